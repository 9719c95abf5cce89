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
// always allowing two edits). Ties go to the earlier candidate.
func closest(word string, candidates []string) string {
	if len(word) > 200 {
		return ""
	}
	best, bestD := "", 0
	limit := max(2, len([]rune(word))/3)
	for _, c := range candidates {
		if len(c) > 200 {
			continue
		}
		if diff := len(c) - len(word); diff > 4*limit || -diff > 4*limit {
			continue // too far apart in bytes to be within limit runes
		}
		d := levenshtein(strings.ToLower(word), strings.ToLower(c))
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// maxSuggestions bounds how many errors get a suggestion computed, so that
// a file full of misspellings cannot make Load slow.
const maxSuggestions = 200

// suggest returns a fix naming the closest candidate, or listing them all.
// Past maxSuggestions errors it only asks to check the spelling.
func (c *collector) suggest(word string, candidates []string, what string) string {
	if len(c.errs) >= maxSuggestions {
		return "check the spelling against the " + what
	}
	if s := closest(word, candidates); s != "" {
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
	return "known " + what + ": " + strings.Join(cs, ", ") + more
}
