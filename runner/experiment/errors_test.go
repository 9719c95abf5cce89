package experiment

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// want is one expected error, written in a test file as
//
//	# want [FILE:]LINE[:COL] "words" "more words"
//
// FILE is relative to the file holding the comment (default: that file).
type want struct {
	pos   Pos
	words []string
}

var (
	wantRe  = regexp.MustCompile(`# want (\S+)((?: +"(?:[^"\\]|\\.)*")+)`)
	quoteRe = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

// readWants returns the expectations written in file.
func readWants(t *testing.T, file string) []want {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ws []want
	for _, m := range wantRe.FindAllStringSubmatch(string(data), -1) {
		loc := m[1]
		p := Pos{File: file}
		if i := strings.LastIndex(loc, ".yaml:"); i >= 0 {
			p.File = filepath.Join(filepath.Dir(file), loc[:i+5])
			loc = loc[i+6:]
		}
		nums := strings.Split(loc, ":")
		p.Line, _ = strconv.Atoi(nums[0])
		if len(nums) > 1 {
			p.Col, _ = strconv.Atoi(nums[1])
		}
		w := want{pos: p}
		for _, q := range quoteRe.FindAllString(m[2], -1) {
			s, err := strconv.Unquote(q)
			if err != nil {
				t.Fatalf("%s: bad want %s: %v", file, q, err)
			}
			w.words = append(w.words, s)
		}
		ws = append(ws, w)
	}
	if len(ws) == 0 {
		t.Fatalf("%s has no # want comments", file)
	}
	return ws
}

// TestErrors loads each file under testdata/errors and checks that it
// gives exactly the errors its "# want" comments expect, at their positions.
func TestErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal("no test files", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			wants := readWants(t, file)
			_, err := Load([]string{file}, Options{})
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Load returned %v, want an ErrorList", err)
			}
			matched := make([]bool, len(list))
			for _, w := range wants {
				found := false
				for i, e := range list {
					if !matched[i] && e.Pos == w.pos && containsAll(e.Msg+" (fix: "+e.Fix+")", w.words) {
						matched[i], found = true, true
						break
					}
				}
				if !found {
					t.Errorf("missing error at %s with %q", w.pos, w.words)
				}
			}
			for i, e := range list {
				if !matched[i] {
					t.Errorf("unexpected error: %v", e)
				}
				if e.Fix == "" {
					t.Errorf("error without a fix: %v", e)
				}
			}
		})
	}
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
