package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// formatAny formats a parameter value: the canonical Go types of stage
// parameters, and what JSON decoding gives for them.
func formatAny(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatFloat(x)
	case float32:
		return formatFloat(float64(x))
	case []int:
		return list(len(x), func(i int) string { return strconv.Itoa(x[i]) })
	case []float64:
		return list(len(x), func(i int) string { return formatFloat(x[i]) })
	case []string:
		return list(len(x), func(i int) string { return strconv.Quote(x[i]) })
	case []any:
		return list(len(x), func(i int) string {
			if s, ok := x[i].(string); ok {
				return strconv.Quote(s)
			}
			return formatAny(x[i])
		})
	}
	return fmt.Sprint(v)
}

func list(n int, item func(int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = item(i)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// formatFloat writes f in the shortest form that reads back exactly.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// formatDuration rounds d for a reader: milliseconds below a second, tenths
// of a second below a minute, then minutes and seconds.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}

// shortKey abbreviates a cache key for display.
func shortKey(k string) string {
	if len(k) > 12 {
		return k[:12]
	}
	return k
}

// anchor turns an experiment path into an HTML id: "part_a/1_7_sdedit.yaml"
// becomes "part_a-1_7_sdedit".
func anchor(path string) string {
	path = strings.TrimSuffix(strings.TrimSuffix(path, ".yaml"), ".yml")
	var b strings.Builder
	for _, r := range path {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "experiment"
	}
	return b.String()
}
