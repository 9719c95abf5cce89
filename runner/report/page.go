package report

import (
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"difflab/runner/metrictable"
	"difflab/stages/artifact"
)

// page is the view of the whole report that the template renders.
type page struct {
	Title       string
	Generated   string
	Runs        []string
	Compare     bool
	Experiments []*expView
}

type expView struct {
	ID, Path, Name, Profile, Skipped string
	Doc                              []string
	Figures                          []*figView
	Stages                           []*stageView
	// Metrics are the headline metrics of the metric stages, one row per
	// stage and metric; Problems name metrics that could not be read.
	Metrics  []metricRow
	Problems []string
	// Computed counts, per run, the nodes whose outputs exist.
	Computed []int
	Total    int
}

// Status summarises the section for the table of contents.
func (e *expView) Status() string {
	if e.Skipped != "" {
		return "skipped"
	}
	parts := make([]string, len(e.Computed))
	for i, c := range e.Computed {
		parts[i] = fmt.Sprintf("%d/%d", c, e.Total)
	}
	return strings.Join(parts, " · ") + " stages computed"
}

type figView struct {
	// Wide figures take a whole row of the page.
	Wide    bool
	Caption string
	Doc     string
	// Sweep lists the values of sweeps upstream of the figure, such as
	// "i_start = 1, 3, 5".
	Sweep  []string
	Node   string
	Output string
	Cells  []*cellView
	Params []paramRow
}

// cellView is one run's rendering of a figure.
type cellView struct {
	Label string
	// Exactly one of Img, SVG, Text or Missing is set.
	Img           string
	Width, Height int
	Pixelated     bool
	// MaxWidth bounds the displayed width in CSS pixels, so that small
	// images are enlarged a few times, not to any width.
	MaxWidth int
	SVG      template.HTML
	Text     string
	Missing  string
	Prov     *provView
}

type provView struct {
	Key, Short, When, Took, Engines, Fetched string
}

type paramRow struct {
	Stage, Name string
	Values      []string
	Differs     bool
}

// metricRow is one metric of one stage in every run, with the difference
// between two runs, Moved when it goes beyond their intervals.
type metricRow struct {
	Stage, Metric string
	Values        []string
	Diff          string
	Moved         bool
}

type stageView struct {
	ID, Kind string
	Cells    []stageCell
}

type stageCell struct {
	Status string // "computed", "not yet computed", or the problem
	OK     bool
	Prov   *provView
}

// build turns experiments into the page view, copying images into files.
func build(exps []*Experiment, opts *Options, files *fileStore) (*page, error) {
	p := &page{
		Title:     opts.Title,
		Generated: opts.Now.UTC().Format("2006-01-02 15:04 UTC"),
		Runs:      opts.Runs,
		Compare:   len(opts.Runs) > 1,
	}
	ids := map[string]bool{"contents": true} // the table of contents' id
	for _, e := range exps {
		v, err := buildExperiment(e, opts, files)
		if err != nil {
			return nil, err
		}
		id := v.ID
		for n := 2; ids[id]; n++ {
			id = fmt.Sprintf("%s-%d", v.ID, n)
		}
		ids[id] = true
		v.ID = id
		p.Experiments = append(p.Experiments, v)
	}
	return p, nil
}

func buildExperiment(e *Experiment, opts *Options, files *fileStore) (*expView, error) {
	v := &expView{
		ID: anchor(e.Path), Path: e.Path, Name: e.Name, Profile: e.Profile,
		Skipped: e.Skipped, Doc: paragraphs(e.Doc),
		Computed: make([]int, len(opts.Runs)), Total: len(e.Nodes),
	}
	if v.Name == "" {
		v.Name = e.Path
	}
	byID := map[string]*Node{}
	for _, n := range e.Nodes {
		if len(n.Runs) != len(opts.Runs) {
			return nil, fmt.Errorf("report: experiment %s node %s has %d runs, the report has %d (%s)",
				e.Path, n.ID, len(n.Runs), len(opts.Runs), strings.Join(opts.Runs, ", "))
		}
		byID[n.ID] = n
	}
	if e.Skipped == "" {
		v.Metrics, v.Problems = metricRows(e)
	}
	for _, n := range e.Nodes {
		sv := &stageView{ID: n.ID, Kind: n.Kind}
		for i, r := range n.Runs {
			c := stageCell{Prov: provenance(r.Provenance)}
			switch {
			case r.Problem != "":
				c.Status = r.Problem
			case r.Computed():
				c.Status, c.OK = "computed", true
				v.Computed[i]++
			default:
				c.Status = "not yet computed"
			}
			sv.Cells = append(sv.Cells, c)
		}
		v.Stages = append(v.Stages, sv)
		if e.Skipped != "" {
			continue
		}
		for _, o := range n.Outputs {
			if !shown(o.Type) {
				continue
			}
			f, err := buildFigure(e, n, o, byID, opts, files)
			if err != nil {
				return nil, err
			}
			v.Figures = append(v.Figures, f)
		}
	}
	return v, nil
}

// shown reports whether outputs of type t appear as figures.
func shown(t artifact.Type) bool {
	return t == artifact.TypeFigure || t == artifact.TypeSeries || t == artifact.TypeText
}

func buildFigure(e *Experiment, n *Node, o Output, byID map[string]*Node, opts *Options, files *fileStore) (*figView, error) {
	f := &figView{Caption: caption(n, o), Doc: n.Doc, Node: n.ID, Output: o.Name}
	chain := ancestors(e, n, byID)
	f.Params = paramRows(chain, len(opts.Runs))
	f.Sweep = sweeps(chain, n)
	for i, r := range n.Runs {
		c := &cellView{Label: opts.Runs[i], Prov: provenance(r.Provenance)}
		switch {
		case r.Problem != "":
			c.Missing = "not usable: " + r.Problem
		case !r.Computed():
			c.Missing = "not yet computed"
		default:
			if err := fillCell(c, r.Dir, o, files); err != nil {
				c.Missing = "not readable: " + err.Error()
			}
		}
		f.Cells = append(f.Cells, c)
		if c.MaxWidth > wideFrom {
			f.Wide = true
		}
	}
	return f, nil
}

// fillCell renders output o stored in dir.
func fillCell(c *cellView, dir string, o Output, files *fileStore) error {
	switch o.Type {
	case artifact.TypeFigure:
		rel, w, h, err := files.addPNG(filepath.Join(dir, o.Name+".png"))
		if err != nil {
			return err
		}
		c.Img, c.Width, c.Height = rel, w, h
		c.Pixelated = w <= pixelatedMax && h <= pixelatedMax
		c.MaxWidth = w
		if c.Pixelated {
			c.MaxWidth = w * max(1, min(maxZoom, pixelatedMax/w))
		}
	case artifact.TypeSeries:
		a, err := artifact.Load(o.Type, dir, o.Name)
		if err != nil {
			return err
		}
		c.SVG = template.HTML(seriesSVG(a.(*artifact.Series)))
	case artifact.TypeText:
		b, err := os.ReadFile(filepath.Join(dir, o.Name+".txt"))
		if err != nil {
			return err
		}
		c.Text = string(b)
	}
	return nil
}

// maxZoom is the most a small figure is enlarged; wideFrom is the
// displayed width, in CSS pixels, from which a figure takes a whole row.
const (
	maxZoom  = 4
	wideFrom = 560
)

// pixelatedMax is the largest side, in pixels, of a figure that the page
// enlarges with nearest-neighbour scaling; larger figures (plots) are
// scaled smoothly.
const pixelatedMax = 640

func caption(n *Node, o Output) string {
	c := humanize(n.Stage)
	if len(n.Matrix) > 0 {
		parts := make([]string, len(n.Matrix))
		for i, m := range n.Matrix {
			parts[i] = m.Name + "=" + m.Value
		}
		c += " with " + strings.Join(parts, ", ")
	}
	if len(n.Outputs) > 1 {
		c += " (" + o.Name + ")"
	}
	return c
}

// humanize turns an identifier such as "loss_curve" into "Loss curve".
func humanize(id string) string {
	s := strings.TrimSpace(strings.NewReplacer("_", " ", "-", " ").Replace(id))
	if s == "" {
		return id
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ancestors returns n and every node of its experiment that feeds it,
// directly or not, in the experiment's order.
func ancestors(e *Experiment, n *Node, byID map[string]*Node) []*Node {
	seen := map[string]bool{n.ID: true}
	stack := []*Node{n}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, id := range cur.Inputs {
			if in, ok := byID[id]; ok && !seen[id] {
				seen[id] = true
				stack = append(stack, in)
			}
		}
	}
	var out []*Node
	for _, m := range e.Nodes {
		if seen[m.ID] {
			out = append(out, m)
		}
	}
	return out
}

// paramRows lists the parameters of the stages in chain, one row per stage
// and parameter, with one value per run. Expansions of a sweep share a row:
// values that differ between them are listed together.
func paramRows(chain []*Node, runs int) []paramRow {
	type key struct{ stage, name string }
	var order []key
	vals := map[key][][]string{} // per run, distinct values in order
	for _, n := range chain {
		for i, r := range n.Runs {
			for _, p := range r.Params {
				k := key{n.Stage, p.Name}
				if _, ok := vals[k]; !ok {
					order = append(order, k)
					vals[k] = make([][]string, runs)
				}
				if !contains(vals[k][i], p.Value) {
					vals[k][i] = append(vals[k][i], p.Value)
				}
			}
		}
	}
	rows := make([]paramRow, 0, len(order))
	for _, k := range order {
		row := paramRow{Stage: k.stage, Name: k.name}
		for _, vs := range vals[k] {
			row.Values = append(row.Values, strings.Join(vs, ", "))
		}
		for _, v := range row.Values[1:] {
			if v != row.Values[0] {
				row.Differs = true
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// sweeps describes the sweeps upstream of n that n collects (those of n
// itself are in its caption), such as "edited: i_start = 1, 3, 5".
func sweeps(chain []*Node, n *Node) []string {
	type key struct{ stage, name string }
	var order []key
	vals := map[key][]string{}
	for _, m := range chain {
		if m.Stage == n.Stage {
			continue
		}
		for _, v := range m.Matrix {
			k := key{m.Stage, v.Name}
			if _, ok := vals[k]; !ok {
				order = append(order, k)
			}
			if !contains(vals[k], v.Value) {
				vals[k] = append(vals[k], v.Value)
			}
		}
	}
	out := make([]string, len(order))
	for i, k := range order {
		out[i] = fmt.Sprintf("%s: %s = %s", k.stage, k.name, strings.Join(vals[k], ", "))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func provenance(p *Provenance) *provView {
	if p == nil {
		return nil
	}
	// The remote cache shows without its scheme: the page holds no
	// addresses it could load.
	fetched := strings.TrimPrefix(strings.TrimPrefix(p.Fetched, "https://"), "http://")
	v := &provView{Key: p.Key, Short: shortKey(p.Key), Fetched: fetched}
	if !p.Start.IsZero() {
		v.When = p.Start.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	if p.Duration > 0 {
		v.Took = formatDuration(p.Duration)
	}
	engines := append([]string(nil), p.Engines...)
	sort.Strings(engines)
	v.Engines = strings.Join(engines, ", ")
	return v
}

// paragraphs splits doc text at blank lines and joins the lines of each
// paragraph with spaces.
func paragraphs(doc string) []string {
	var out []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, " "))
			cur = nil
		}
	}
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return out
}

// metricRows reads the metrics outputs of e's nodes in every run and lays
// them out with metrictable; problems names the outputs that could not be
// read.
func metricRows(e *Experiment) (rows []metricRow, problems []string) {
	var sts []metrictable.Stage
	for _, n := range e.Nodes {
		for _, o := range n.Outputs {
			if o.Type != artifact.TypeMetrics {
				continue
			}
			st := metrictable.Stage{Experiment: e.Path, ID: n.ID}
			for _, r := range n.Runs {
				var ms artifact.Metrics
				if r.Computed() {
					a, err := artifact.Load(artifact.TypeMetrics, r.Dir, o.Name)
					if err != nil {
						problems = append(problems, fmt.Sprintf("%s: %v", n.ID, err))
					} else {
						ms = a.(artifact.Metrics)
					}
				}
				st.Runs = append(st.Runs, ms)
			}
			sts = append(sts, st)
		}
	}
	for _, r := range metrictable.Rows(sts, true) {
		row := metricRow{Stage: r.Stage, Metric: r.Metric, Moved: r.Moved}
		for _, v := range r.Values {
			row.Values = append(row.Values, metrictable.Format(v))
		}
		if r.Diff != nil {
			row.Diff = fmt.Sprintf("%+.4g", *r.Diff)
			if r.Moved {
				row.Diff += " (beyond the intervals)"
			}
		}
		rows = append(rows, row)
	}
	return rows, problems
}
