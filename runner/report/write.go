package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"time"
)

// IndexName is the file name of the report page.
const IndexName = "index.html"

// Options configures Write. The zero value is usable except for Out.
type Options struct {
	// Out is the folder that receives index.html and its index_files/.
	Out string
	// Title heads the page; "difflab report" when empty.
	Title string
	// Runs labels the runs shown side by side, one per Node.Runs entry;
	// {"results"} when empty. Two or more labels make a comparison.
	Runs []string
	// Now stamps the page; the current time when zero.
	Now time.Time
}

//go:embed page.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("page").Parse(pageSource))

// Write renders the experiments into Out/index.html, in the order given (see
// Sort), copying the images it shows into Out/index_files/ and removing the
// ones an earlier report there used and this one does not. It returns the
// path of index.html.
func Write(exps []*Experiment, opts Options) (string, error) {
	if opts.Out == "" {
		return "", fmt.Errorf("report: no output folder given")
	}
	if opts.Title == "" {
		opts.Title = "difflab report"
	}
	if len(opts.Runs) == 0 {
		opts.Runs = []string{"results"}
	}
	opts.Now = opts.now()
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	files := newFileStore(out)
	p, err := build(exps, &opts, files)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		return "", fmt.Errorf("report: rendering the page: %w", err)
	}
	index := filepath.Join(out, IndexName)
	if err := writeAtomic(index, buf.Bytes()); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	if err := files.prune(); err != nil {
		return "", fmt.Errorf("report: removing old images: %w", err)
	}
	return index, nil
}

// now returns opts.Now or the current time.
func (o *Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}
