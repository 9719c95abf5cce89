package runner

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"difflab/models/ops"
	"difflab/models/ort"
	"difflab/runner/cache"
	"difflab/stages"
)

// fakeBuild is build information as `go build` records it.
var fakeBuild = &debug.BuildInfo{
	Deps: []*debug.Module{
		{Path: "gonum.org/v1/gonum", Version: "v0.17.0"},
		{Path: "gorgonia.org/gorgonia", Version: "v0.9.18"},
		{Path: "gorgonia.org/tensor", Version: "v0.9.24", Replace: &debug.Module{Path: "example.org/tensor", Version: "v0.9.25"}},
		{Path: "github.com/yalue/onnxruntime_go", Version: "v1.27.0"},
	},
	Settings: []debug.BuildSetting{{Key: "GOARCH", Value: "amd64"}, {Key: "GOAMD64", Value: "v3"}, {Key: "CGO_ENABLED", Value: "1"}},
}

func TestEnginesComeFromTheBuild(t *testing.T) {
	toolchain := "go " + runtime.Version() + " " + runtime.GOARCH + " GOAMD64=v3"
	g := gorgoniaEngine(fakeBuild)
	want := append([]string{toolchain, "gonum.org/v1/gonum v0.17.0", "gorgonia.org/gorgonia v0.9.18",
		"gorgonia.org/tensor v0.9.24 => example.org/tensor v0.9.25"}, ops.EngineLines()...)
	if !slices.Equal(g.Lines, want) {
		t.Errorf("gorgonia lines\n%q\nwant\n%q", g.Lines, want)
	}
	if s := "gorgonia v0.9.18, tensor v0.9.24 => example.org/tensor v0.9.25, ops " + ops.Engine; g.Summary != s {
		t.Errorf("gorgonia summary %q, want %q", g.Summary, s)
	}
	o := onnxruntimeEngine(fakeBuild)
	want = append([]string{toolchain, "github.com/yalue/onnxruntime_go v1.27.0"}, ort.KeyLines()...)
	if !slices.Equal(o.Lines, want) {
		t.Errorf("onnxruntime lines\n%q\nwant\n%q", o.Lines, want)
	}
	if !strings.Contains(o.Summary, "ORT "+ort.LibVersion) {
		t.Errorf("onnxruntime summary %q lacks the library's version", o.Summary)
	}

	// Test binaries record no modules.
	if bi := buildInfo(); len(bi.Deps) == 0 {
		if v := moduleVersion(bi, "gorgonia.org/gorgonia"); v != "(not recorded)" {
			t.Errorf("a binary without modules: gorgonia %q", v)
		}
	}
}

func TestKeysHoldEveryEngineLine(t *testing.T) {
	b := newGraph("e.yaml")
	b.add("x", "test.engine", stages.Params{"value": 1.0})
	keys, err := Keys(b.g, cache.NewDigester(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range keys[b.g.Nodes[0]].Lines {
		if strings.HasPrefix(l, "engine ") {
			lines = append(lines, l)
		}
	}
	var want []string
	for _, l := range Engines["onnxruntime"]().Lines {
		want = append(want, "engine onnxruntime "+l)
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("engine lines\n%q\nwant\n%q", lines, want)
	}
	var out bytes.Buffer
	ExplainKeys(&out, b.g, keys)
	if !strings.Contains(out.String(), "\tengine onnxruntime cpu "+ort.CPUClass()+"\n") {
		t.Errorf("explanation lacks the CPU class:\n%s", out.String())
	}
}

func TestDiffKeyLinesNamesTheEngineFacet(t *testing.T) {
	old := []string{cache.FormatVersion, "kind train.flow 1", "engine gorgonia ops openblas",
		"engine gorgonia blas OpenBLAS 0.3.21 DYNAMIC_ARCH Zen, core Zen", "engine gorgonia gorgonia.org/gorgonia v0.9.18"}
	now := []string{cache.FormatVersion, "kind train.flow 1", "engine gorgonia ops openblas",
		"engine gorgonia blas OpenBLAS 0.3.21 DYNAMIC_ARCH Haswell, core Haswell", "engine gorgonia gorgonia.org/gorgonia v0.9.18",
		"engine gorgonia native kernels gcc 12.2.0, avx2 clone"}
	b := newGraph("d.yaml")
	b.add("x", "test.engine", stages.Params{"value": 1.0})
	got := strings.Join(DiffKeyLines(old, now, b.g.Nodes[0]), "; ")
	want := "engine gorgonia blas: OpenBLAS 0.3.21 DYNAMIC_ARCH Zen, core Zen -> OpenBLAS 0.3.21 DYNAMIC_ARCH Haswell, core Haswell; " +
		"engine gorgonia native: none -> kernels gcc 12.2.0, avx2 clone"
	if got != want {
		t.Fatalf("diff\n%s\nwant\n%s", got, want)
	}

	// Another engine is one phrase, whatever its facets.
	other := []string{cache.FormatVersion, "kind train.flow 1", "engine onnxruntime go go1.26.8 amd64",
		"engine onnxruntime library ONNX Runtime 1.30.0", "device onnxruntime webgpu"}
	got = strings.Join(DiffKeyLines(now, other, b.g.Nodes[0]), "; ")
	want = "engine: gorgonia -> onnxruntime; device onnxruntime: default -> webgpu (another device rounds differently)"
	if got != want {
		t.Fatalf("diff\n%s\nwant\n%s", got, want)
	}
}

// A kind whose parameter picks its engine keys the picked engine's lines
// only, and not the parameter: auto on the default devices shares the
// entry of the first engine, auto with ONNX Runtime on the GPU keys that
// engine and the device.
func TestEngineParamPicksTheKeyedEngine(t *testing.T) {
	gpu := map[string]string{"onnxruntime": "webgpu"}
	key := func(engine string, devices map[string]string) NodeKey { return enginesStageKey(t, engine, devices) }
	engines := func(k NodeKey) string {
		seen := map[string]bool{}
		var names []string
		for _, l := range k.Lines {
			f := strings.Fields(l)
			if (f[0] == "engine" || f[0] == "device") && !seen[f[0]+" "+f[1]] {
				seen[f[0]+" "+f[1]] = true
				names = append(names, f[0]+" "+f[1])
			}
			if f[0] == "param" && f[1] == "engine" {
				t.Errorf("the engine parameter is a key line: %q", l)
			}
		}
		return strings.Join(names, ", ")
	}
	for _, c := range []struct {
		engine  string
		devices map[string]string
		want    string
	}{
		{"auto", nil, "engine gorgonia"},
		{"gorgonia", nil, "engine gorgonia"},
		{"gorgonia", gpu, "engine gorgonia"},
		{"onnxruntime", nil, "engine onnxruntime"},
		{"auto", gpu, "engine onnxruntime, device onnxruntime"},
		{"onnxruntime", gpu, "engine onnxruntime, device onnxruntime"},
	} {
		if got := engines(key(c.engine, c.devices)); got != c.want {
			t.Errorf("engine %s, devices %v: %s, want %s", c.engine, c.devices, got, c.want)
		}
	}
	if key("auto", nil).Key != key("gorgonia", gpu).Key || key("auto", gpu).Key != key("onnxruntime", gpu).Key {
		t.Error("auto does not share the entry of the engine it picks")
	}
	if key("auto", nil).Key == key("onnxruntime", nil).Key {
		t.Error("the two engines share an entry")
	}
}

// An engine's code version (Kind.EngineVersions) changes the keys of the
// stages that engine computes, with its own line, and no other key.
func TestEngineVersionKeysOnlyItsEngine(t *testing.T) {
	kind, err := stages.Lookup("test.engines")
	if err != nil {
		t.Fatal(err)
	}
	key := func(engine string) NodeKey { return enginesStageKey(t, engine, nil) }
	before := map[string]NodeKey{"gorgonia": key("gorgonia"), "onnxruntime": key("onnxruntime")}
	kind.EngineVersions = map[string]int{"onnxruntime": 3}
	t.Cleanup(func() { kind.EngineVersions = nil })
	if got := key("gorgonia"); got.Key != before["gorgonia"].Key {
		t.Errorf("onnxruntime's code version changed the key of a stage Gorgonia computes:\n%s", strings.Join(got.Lines, "\n"))
	}
	got := key("onnxruntime")
	if got.Key == before["onnxruntime"].Key {
		t.Error("onnxruntime's code version left the key of a stage it computes as it was")
	}
	if !slices.Contains(got.Lines, "engine onnxruntime code 3") {
		t.Errorf("no line names the code version:\n%s", strings.Join(got.Lines, "\n"))
	}
}

// enginesStageKey returns the key of a test.engines stage whose parameter
// picks engine, on the given devices.
func enginesStageKey(t *testing.T, engine string, devices map[string]string) NodeKey {
	t.Helper()
	b := newGraph("p.yaml")
	b.add("x", "test.engines", stages.Params{"value": 1.0, "engine": engine})
	keys, err := Keys(b.g, cache.NewDigester(""), devices)
	if err != nil {
		t.Fatal(err)
	}
	return keys[b.g.Nodes[0]]
}

// A kind that versions an engine it does not list is a programming
// mistake that Register refuses: its version would never enter a key.
func TestRegisterRefusesVersionOfUnlistedEngine(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Register accepted a version of an engine the kind does not list")
		}
	}()
	stages.Register(&stages.Kind{Name: "test.unlisted_version", Doc: "versions gorgonia, runs onnxruntime", Version: 1,
		Engine: []string{"onnxruntime"}, EngineVersions: map[string]int{"gorgonia": 1},
		Run: func(*stages.Context) error { return nil }})
}
