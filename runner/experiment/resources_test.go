package experiment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResources(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.yaml")
	os.WriteFile(p, []byte(`resources: {cpus: 2, mem: 1G, time: 2h}
stages:
  img: {kind: exptest.source}
  big:
    kind: exptest.grid
    in: {images: img}
    resources: {mem: 512M, gpus: 1, time: 1h30m}
`), 0o644)
	g := load(t, []string{p}, Options{})
	e := g.Experiments[0]
	eq(t, "experiment", e.Resources, Resources{CPUs: 2, Mem: 1 << 30, Time: 2 * time.Hour})
	eq(t, "stage without its own", node(t, e, "img").Resources, e.Resources)
	eq(t, "stage over experiment", node(t, e, "big").Resources, Resources{CPUs: 2, Mem: 512 << 20, Time: 90 * time.Minute, GPUs: 1})

	os.WriteFile(p, []byte(`resources: {gpus: 2}
stages:
  img:
    kind: exptest.source
    resources: {gpus: 0}
`), 0o644)
	g = load(t, []string{p}, Options{})
	eq(t, "gpus: 0 over an experiment's 2", node(t, g.Experiments[0], "img").Resources, Resources{GPUs: NoGPUs})

	os.WriteFile(p, []byte(`stages:
  img:
    kind: exptest.source
    resources: {cpus: 0, mem: lots, time: 5s, gpu: 1}
`), 0o644)
	errs := loadErr(t, []string{p}, Options{})
	var got []string
	for _, e := range errs {
		got = append(got, e.Pos.String()+": "+e.Msg+" (fix: "+e.Fix+")")
	}
	want := []string{
		`:4:23: resources cpus "0" is not a count (fix: write cpus as a whole number, such as 2)`,
		`:4:31: resources mem: "lots" is not a size such as 512M or 4G (fix: write mem as a size, such as 512M or 4G)`,
		`:4:43: resources time "5s" is not a duration of a minute or more`,
		`:4:47: unknown resources key "gpu" (fix: did you mean "gpus"?`,
	}
	if len(got) != len(want) {
		t.Fatalf("errors:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], p+want[i]) {
			t.Errorf("error %d: %s\nwant prefix %s%s", i, got[i], p, want[i])
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512M": 512 << 20, "4G": 4 << 30, "4GiB": 4 << 30, "1.5k": 1536, "100": 100} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1G", "G", "four", "NaN", "Inf", "0.5", "1e30T"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}
