package experiment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// maxFileSize caps the size of an experiment or include file (1 MiB).
const maxFileSize = 1 << 20

// maxExpanded bounds the size of a file with every alias replaced by what
// it names (see expandedSize). Work on a value is proportional to its size
// each time an alias uses it, so this bounds that work.
const maxExpanded = 32 << 20

// expandedSize returns the size of n with its aliases expanded: one per
// node plus the length of each scalar, saturating past maxExpanded. A node
// that contains an alias to itself expands without end. Only anchored
// nodes can be reached twice, so only they are remembered in memo.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int) int {
	if n.Anchor != "" {
		if v, ok := memo[n]; ok {
			return v
		}
		memo[n] = maxExpanded + 1 // seen again while inside n: a loop
	}
	size := 1 + len(n.Value)
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		size += expandedSize(n.Alias, memo)
	}
	for _, ch := range n.Content {
		if size > maxExpanded {
			break
		}
		size += expandedSize(ch, memo)
	}
	size = min(size, maxExpanded+1)
	if n.Anchor != "" {
		memo[n] = size
	}
	return size
}

// maxAliasHops bounds how many aliases are followed to reach a value, and how
// deeply merge keys ("<<") nest; anchors can form loops.
const maxAliasHops = 16

// srcFile is one parsed YAML file.
type srcFile struct {
	name string     // as shown in positions
	abs  string     // absolute path
	dir  string     // absolute directory, for relative paths set in the file
	top  *yaml.Node // the top-level mapping; nil when the file failed to parse
	err  *Error     // why the file could not be read or parsed
}

// pos returns the position of n in f.
func (f *srcFile) pos(n *yaml.Node) Pos {
	return Pos{File: f.name, Line: n.Line, Col: n.Column}
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parseYAML reads and parses one file into f.top, or sets f.err.
func parseYAML(f *srcFile) {
	data, err := readLimited(f.name)
	if err != nil {
		err = unwrapPath(err)
		f.err = &Error{Pos: Pos{File: f.name}, Msg: "cannot read the file: " + err.Error(),
			Fix: "check the path; experiment files are regular files of at most 1 MiB"}
		return
	}
	top, e := decodeYAML(f.name, data)
	f.top, f.err = top, e
}

// decodeYAML parses data, which must hold one YAML document whose top level
// is a mapping.
func decodeYAML(name string, data []byte) (top *yaml.Node, e *Error) {
	if p, msg, ok := badBytes(data); ok {
		p.File = name
		return nil, &Error{Pos: p, Msg: msg, Fix: "save the file as UTF-8 text without control characters"}
	}
	defer func() {
		// yaml.v3 is not expected to panic, but user input must never crash Load.
		if r := recover(); r != nil {
			top, e = nil, &Error{Pos: Pos{File: name, Line: 1}, Msg: fmt.Sprintf("YAML parser failed: %v", r),
				Fix: "simplify the file's YAML syntax"}
		}
	}()
	doc, next, err := decodeDocs(data)
	if errors.Is(err, io.EOF) {
		return nil, &Error{Pos: Pos{File: name, Line: 1, Col: 1}, Msg: "the file is empty",
			Fix: "write the experiment as a YAML mapping with name, doc and stages (see the package documentation)"}
	}
	if err != nil {
		return nil, syntaxError(name, data, err)
	}
	if next != nil {
		return nil, &Error{Pos: Pos{File: name, Line: next.Line, Col: next.Column},
			Msg: "the file holds more than one YAML document", Fix: "remove the '---' separator and what follows, or move it to its own file"}
	}
	if expandedSize(doc, map[*yaml.Node]int{}) > maxExpanded {
		return nil, &Error{Pos: Pos{File: name, Line: 1, Col: 1},
			Msg: fmt.Sprintf("with its aliases replaced by what they name, the file holds more than %d MiB of YAML, or an alias names a value that contains it", maxExpanded>>20),
			Fix: "use fewer aliases of large values"}
	}
	n := deref(doc)
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = deref(n.Content[0])
	}
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil, &Error{Pos: Pos{File: name, Line: 1, Col: 1}, Msg: "the file is empty",
				Fix: "write the experiment as a YAML mapping with name, doc and stages (see the package documentation)"}
		}
		return nil, &Error{Pos: Pos{File: name, Line: n.Line, Col: n.Column},
			Msg: "the top level must be a mapping (key: value lines), not " + describe(n),
			Fix: "start the file with keys such as name:, doc: and stages:"}
	}
	return n, nil
}

// decodeDocs parses the first YAML document of data and the start of a
// second one, if any. The error is io.EOF when data holds no document.
func decodeDocs(data []byte) (doc, next *yaml.Node, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	doc = &yaml.Node{}
	if err := dec.Decode(doc); err != nil {
		return nil, nil, err
	}
	next = &yaml.Node{}
	if err := dec.Decode(next); err != nil {
		if errors.Is(err, io.EOF) {
			return doc, nil, nil
		}
		return nil, nil, err
	}
	return doc, next, nil
}

// syntaxError turns a yaml.v3 error into an Error. yaml.v3 often reports
// the line where the enclosing block began, or no line at all, so the line
// is found as the shortest prefix of the file, in whole lines, that fails
// with the same message: the streaming parser stops at the offending token.
func syntaxError(name string, data []byte, err error) *Error {
	msg, line := splitYAMLError(err)
	var ends []int // offset after each line
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		ends = append(ends, len(data))
	}
	fails := func(k int) bool { // whether the first k lines fail with msg
		_, _, err := decodeDocs(data[:ends[k-1]])
		if err == nil || errors.Is(err, io.EOF) {
			return false
		}
		m, _ := splitYAMLError(err)
		return m == msg
	}
	lo, hi := 1, len(ends)
	if hi >= 1 && fails(hi) {
		for lo < hi {
			mid := (lo + hi) / 2
			if fails(mid) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		line = lo
	}
	if line < 1 {
		line = 1
	}
	return &Error{Pos: Pos{File: name, Line: line}, Msg: "YAML syntax error: " + msg,
		Fix: "check indentation, colons, brackets and quotes on this line and the one before"}
}

// splitYAMLError splits "yaml: line 3: msg" into the message and the line
// (0 when absent).
func splitYAMLError(err error) (string, int) {
	msg := err.Error()
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return msg, 0
	}
	line, _ := strconv.Atoi(m[1])
	return m[2], line
}

// badBytes finds the first invalid UTF-8 sequence or control character that
// YAML does not allow, so that its position can be reported.
func badBytes(data []byte) (Pos, string, bool) {
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return Pos{Line: line, Col: col}, fmt.Sprintf("invalid UTF-8 byte 0x%02x", data[i]), true
		case r == '\n':
			line, col = line+1, 0
		case r < 0x20 && r != '\t' && r != '\r', r == 0x7f, r >= 0x80 && r < 0xa0 && r != 0x85, r == 0xfffe, r == 0xffff:
			return Pos{Line: line, Col: col}, fmt.Sprintf("control character %U is not allowed in YAML", r), true
		}
		i += size
		col++
	}
	return Pos{}, "", false
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < maxAliasHops; i++ {
		n = n.Alias
	}
	return n
}

// describe names the kind of a node for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "an empty value"
		}
		return fmt.Sprintf("the value %q", clip(n.Value))
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// clip shortens long text quoted in messages.
func clip(s string) string {
	const n = 60
	if len(s) <= n {
		return s
	}
	runes := 0
	for i := range s { // reads at most n+1 runes of a long s
		if runes == n {
			return s[:i] + "..."
		}
		runes++
	}
	return s
}

// kv is one key and value of a mapping.
type kv struct {
	key *yaml.Node // a scalar
	val *yaml.Node // aliases followed
}

// entries returns the pairs of mapping n in order, reporting non-scalar and
// repeated keys. Merge keys ("<<: *anchor") bring in the pairs of the named
// mappings; keys written in n take precedence.
// Each mapping is merged at most once, and every entry read is spent from
// the collector's budget; past it, entries returns nothing.
func entries(f *srcFile, n *yaml.Node, c *collector) []kv {
	return mergedEntries(f, n, c, 0, map[*yaml.Node]bool{})
}

func mergedEntries(f *srcFile, n *yaml.Node, c *collector, depth int, merged map[*yaml.Node]bool) []kv {
	if !c.spend(len(n.Content) / 2) {
		return nil
	}
	var out, more []kv
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			c.add(f.pos(k), "use a plain word as the key", "a key must be a plain word, not %s", describe(k))
			continue
		}
		if k.Tag == "!!merge" {
			if depth >= maxAliasHops {
				c.add(f.pos(k), "merge fewer levels of mappings", "merge keys ('<<') nest too deeply")
				continue
			}
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				s = deref(s)
				if s.Kind != yaml.MappingNode {
					c.add(f.pos(s), "write '<<: *anchor' where the anchor names a mapping", "a merge key ('<<') needs a mapping, not %s", describe(s))
					continue
				}
				if !merged[s] {
					merged[s] = true
					more = append(more, mergedEntries(f, s, c, depth+1, merged)...)
				}
			}
			continue
		}
		if first, dup := seen[k.Value]; dup {
			c.add(f.pos(k), "remove one of the two", "key %q is repeated (first at line %d)", clip(k.Value), first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, kv{k, v})
	}
	for _, m := range more {
		if _, ok := seen[m.key.Value]; !ok {
			seen[m.key.Value] = m.key
			out = append(out, m)
		}
	}
	return out
}

// parseScalarText parses s as a YAML value (a scalar or a flow list), as
// given on the command line. An empty s is the empty string.
func parseScalarText(s string) (n *yaml.Node, err error) {
	if s == "" {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "", Line: 1, Column: 1}, nil
	}
	if len(s) > maxFileSize {
		return nil, errors.New("the value is too long")
	}
	if _, msg, bad := badBytes([]byte(s)); bad {
		return nil, errors.New(msg)
	}
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("not a single value")
	}
	return deref(doc.Content[0]), nil
}
