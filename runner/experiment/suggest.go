package experiment

import (
	"fmt"
	"sort"
	"strings"
)

// levenshtein returns the edit distance between a and b, counted in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// closest returns the candidate nearest to word, if one is near enough to be
// a likely misspelling (at most a third of the word's length away, and
// always allowing two edits). Ties go to the earlier candidate. Each
// comparison spends the cells of its edit-distance table from *cells;
// when they would pass maxSuggestCells, closest gives up and returns "". A
// nil cells means no budget (for a handful of short candidates).
func closest(word string, candidates []string, cells *int) string {
	if len(word) > 200 {
		return ""
	}
	best, bestD := "", 0
	lw := strings.ToLower(word)
	n := len([]rune(word))
	limit := max(2, n/3)
	for _, c := range candidates {
		if len(c) > 200 {
			continue
		}
		if diff := len(c) - len(word); diff > 4*limit || -diff > 4*limit {
			continue // too far apart in bytes to be within limit runes
		}
		if cells != nil {
			cost := (n + 1) * (len(c) + 1)
			if *cells+cost > maxSuggestCells {
				*cells = maxSuggestCells
				return ""
			}
			*cells += cost
		}
		d := levenshtein(lw, strings.ToLower(c))
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// maxSuggestions bounds how many errors get a suggestion computed, and
// maxSuggestCells the edit-distance table cells computed for them in one
// Load, so that a file full of long misspellings cannot make Load slow.
const (
	maxSuggestions  = 200
	maxSuggestCells = 20000000
)

// suggest returns a fix naming the closest candidate, or listing them.
// Past maxSuggestions errors it only asks to check the spelling.
func (c *collector) suggest(word string, candidates []string, what string) string {
	if c.count >= maxSuggestions {
		return "check the spelling against the " + what
	}
	if s := closest(word, candidates, &c.cells); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return knownList(candidates, what)
}

// knownList formats "known <what>: a, b, c" (or says there are none).
func knownList(candidates []string, what string) string {
	if len(candidates) == 0 {
		return "there are no " + what
	}
	cs := append([]string(nil), candidates...)
	sort.Strings(cs)
	const show = 40
	more := ""
	if len(cs) > show {
		more = fmt.Sprintf(" and %d more", len(cs)-show)
		cs = cs[:show]
	}
	return "known " + what + ": " + strings.Join(clipAll(cs), ", ") + more
}

// someOf joins the first values of vs for a message, saying how many more
// there are.
func someOf(vs []string) string {
	const show = 20
	if len(vs) <= show {
		return strings.Join(clipAll(vs), ", ")
	}
	return strings.Join(clipAll(vs[:show]), ", ") + fmt.Sprintf(" and %d more", len(vs)-show)
}

// clipAll returns the values clipped.
func clipAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = clip(v)
	}
	return out
}
