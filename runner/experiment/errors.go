package experiment

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// MaxErrors caps how many errors an ErrorList reports; the rest are counted.
const MaxErrors = 50

// Error is a problem in an experiment: where it is, what is wrong and how to
// fix it.
type Error struct {
	// Pos is the offending YAML node; Line and Col are 0 when unknown (for a
	// file that cannot be read or a --set flag, File names the file or flag).
	Pos Pos
	// Msg says what is wrong.
	Msg string
	// Fix says how to correct it.
	Fix string
	// Err is the cause, when another error is; nil otherwise.
	Err error
}

// Error formats the error on one line: "file:line:col: msg (fix: ...)".
func (e *Error) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if e.Fix != "" {
		s += " (fix: " + e.Fix + ")"
	}
	return s
}

// Unwrap returns the cause, so that errors.Is finds sentinel errors such as
// a data set's "not installed".
func (e *Error) Unwrap() error { return e.Err }

// ErrorList is every error Load found, sorted by position. Its Error method
// reports at most MaxErrors of them.
type ErrorList []*Error

// Error lists the errors, one a line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i == MaxErrors {
			fmt.Fprintf(&b, "\n... and %d more errors", len(l)-MaxErrors)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the errors, so that errors.As finds an *Error.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// sorted returns the list sorted by position and message, without
// duplicates (an include shared by two experiments reports its errors once).
func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		return a.Msg < b.Msg
	})
	out := l[:0]
	for i, e := range l {
		if i > 0 && *e == *l[i-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}

// PrintError writes err for a person at a terminal. Each *Error (alone or in
// an ErrorList) is shown with its position, the offending source line with a
// caret under the column, and its fix:
//
//	experiments/a.yaml:9:18: unknown parameter "sed" of kind noise.forward
//	    9 |       with: {sed: 180}
//	      |              ^
//	    fix: did you mean "seed"?
//
// Other errors are written as they are.
func PrintError(w io.Writer, err error) {
	if err == nil {
		return
	}
	var list ErrorList
	switch e := err.(type) {
	case ErrorList:
		list = e
	case *Error:
		list = ErrorList{e}
	default:
		fmt.Fprintln(w, err)
		return
	}
	lines := map[string][]string{}
	for i, e := range list {
		if i == MaxErrors {
			fmt.Fprintf(w, "... and %d more errors\n", len(list)-MaxErrors)
			break
		}
		fmt.Fprintf(w, "%s: %s\n", e.Pos, e.Msg)
		if src := sourceLine(lines, e.Pos); src != "" {
			fmt.Fprintf(w, "%5d | %s\n", e.Pos.Line, src)
			if e.Pos.Col > 0 && e.Pos.Col <= len(src)+1 {
				fmt.Fprintf(w, "      | %s^\n", caretIndent(src, e.Pos.Col))
			}
		}
		if e.Fix != "" {
			fmt.Fprintf(w, "    fix: %s\n", e.Fix)
		}
	}
}

// sourceLine returns line p.Line of p.File, reading each file once.
func sourceLine(cache map[string][]string, p Pos) string {
	if p.Line <= 0 || p.File == "" {
		return ""
	}
	ls, ok := cache[p.File]
	if !ok {
		if data, err := readLimited(p.File); err == nil {
			sc := bufio.NewScanner(strings.NewReader(string(data)))
			sc.Buffer(make([]byte, 0, 64*1024), maxFileSize)
			for sc.Scan() {
				ls = append(ls, sc.Text())
			}
		}
		cache[p.File] = ls
	}
	if p.Line > len(ls) {
		return ""
	}
	return ls[p.Line-1]
}

// caretIndent returns the whitespace that puts a caret under column col
// (1-based, counted in runes as yaml.v3 does) of src, keeping tabs.
func caretIndent(src string, col int) string {
	var b strings.Builder
	for i, r := range []rune(src) {
		if i >= col-1 {
			break
		}
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// readLimited reads a regular file of at most maxFileSize bytes, reading no
// more than the size it had when it was opened. It refuses devices, pipes and
// directories, which could block or never end.
func readLimited(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("%s is %d bytes, more than the limit of %d", path, st.Size(), maxFileSize)
	}
	if st.Size() == 0 {
		// Files of /proc report 0 bytes and some never end or block.
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, st.Size()))
	if err != nil {
		return nil, err
	}
	return data, nil
}
