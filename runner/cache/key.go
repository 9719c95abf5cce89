package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// FormatVersion salts every key and names the on-disk format. Change it when
// the layout of entries or the meaning of key lines changes: every old entry
// then stops matching and is recomputed.
const FormatVersion = "difflab-cache v1"

// KeyBuilder computes a cache key from readable lines, one per input of a
// stage, in the manner of cmd/go's action IDs. The first line is always
// FormatVersion. The key is the hex SHA-256 of the lines, each followed by
// a newline.
//
// Whoever builds keys must add a line for every influence on a stage's
// outputs; anything left out makes the cache serve stale results.
type KeyBuilder struct {
	lines []string
}

// NewKeyBuilder returns a builder holding the format line.
func NewKeyBuilder() *KeyBuilder {
	return &KeyBuilder{lines: []string{FormatVersion}}
}

// Add appends one line formatted with fmt.Sprintf. Newlines in the result
// are escaped so that each input stays on one line.
func (b *KeyBuilder) Add(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	line = strings.ReplaceAll(line, "\n", `\n`)
	b.lines = append(b.lines, line)
}

// Lines returns a copy of the lines added so far.
func (b *KeyBuilder) Lines() []string { return append([]string(nil), b.lines...) }

// Sum returns the key of the lines added so far.
func (b *KeyBuilder) Sum() string { return SumLines(b.lines) }

// SumLines returns the key of the given lines: the hex SHA-256 of each line
// followed by a newline.
func SumLines(lines []string) string {
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ValidKey reports whether k looks like a key: 64 lowercase hex digits.
func ValidKey(k string) bool {
	if len(k) != 64 {
		return false
	}
	for _, c := range k {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
