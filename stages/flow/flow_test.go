package flow

import (
	"context"
	"strings"
	"testing"

	"difflab/models/flow"
	"difflab/models/flow/flowtest"
	"difflab/models/modelfile"
	"difflab/stages"
	"difflab/stages/artifact"
)

func TestStageOutputsClippedSamplesAndLabels(t *testing.T) {
	dir := flowtest.FieldModel(t, 1, 0, 3)
	k, err := stages.Lookup("sample.flow")
	if err != nil {
		t.Fatal(err)
	}
	params := stages.Params{"epoch": 0, "n": 0, "classes": []int{}, "per_class": 2, "steps": 20, "cfg": 1.0, "seed": 1, "clip": true}
	if err := k.Check(params); err != nil {
		t.Fatal(err)
	}
	ctx := &stages.Context{Context: context.Background(), Kind: k, Stage: "s", Params: params,
		In: map[string][]stages.Input{"model": {{Artifact: &artifact.Model{Dir: dir}}}}}
	if err := k.Run(ctx); err != nil {
		t.Fatal(err)
	}
	labels := ctx.Outputs()["labels"].(artifact.Labels)
	if want := []int64{0, 1, 2, 0, 1, 2}; len(labels) != 6 || labels[0] != want[0] || labels[5] != want[5] || labels[4] != want[4] {
		t.Fatalf("labels %v, want %v", labels, want)
	}
	x := ctx.Outputs()["samples"].(*artifact.Images)
	if x.N() != 6 || x.Lo != 0 || x.Hi != 1 {
		t.Fatalf("samples %v in [%g, %g]", x.Shape, x.Lo, x.Hi)
	}
	// Class 0 is pulled towards 1, classes 1 and 2 towards 2 and 3: after 20
	// steps (decay 0.36) the class-2 samples exceed 1 and are clipped.
	for i, v := range x.Data {
		if v < 0 || v > 1 {
			t.Fatalf("value %d = %g outside [0, 1]", i, v)
		}
		if labels[i/4] == 2 && v != 1 {
			t.Fatalf("class-2 value %d = %g, want clipped to 1", i, v)
		}
	}
	params["per_class"], params["n"] = 0, 0
	if err := k.Check(params); err == nil {
		t.Error("Check accepted no sample count")
	}
}

func TestClasses(t *testing.T) {
	onehot := &modelfile.Description{Condition: modelfile.Condition{Kind: modelfile.ConditionOnehot, Size: 10}}
	none := &modelfile.Description{Condition: modelfile.Condition{Kind: modelfile.ConditionNone}}
	got, _ := Classes(onehot, 0, nil, 4)
	if len(got) != 40 || got[9] != 9 || got[10] != 0 || got[39] != 9 {
		t.Errorf("per_class 4: %v", got)
	}
	got, _ = Classes(onehot, 12, nil, 0)
	if len(got) != 12 || got[11] != 1 {
		t.Errorf("n 12: %v", got)
	}
	got, _ = Classes(none, 3, nil, 0)
	if len(got) != 3 || got[0] != flow.Unconditional {
		t.Errorf("unconditional n 3: %v", got)
	}
	if _, err := Classes(onehot, 0, []int{3, 10}, 0); err == nil || !strings.Contains(err.Error(), "entry 1 is 10, want 0..9") {
		t.Errorf("class 10: %v", err)
	}
	if _, err := Classes(none, 0, nil, 2); err == nil {
		t.Error("per_class on a model without classes: no error")
	}
}

func TestStageRefusesWhatExceedsTheMemoryLimit(t *testing.T) {
	dir := flowtest.FieldModel(t, 1, 0, 3)
	k, err := stages.Lookup("sample.flow")
	if err != nil {
		t.Fatal(err)
	}
	for param, p := range map[string]stages.Params{
		"n":         {"epoch": 0, "n": 100000, "classes": []int{}, "per_class": 0, "steps": 1, "cfg": 1.0, "seed": 1, "clip": true},
		"per_class": {"epoch": 0, "n": 0, "classes": []int{}, "per_class": 10000, "steps": 1, "cfg": 1.0, "seed": 1, "clip": true},
	} {
		ctx := &stages.Context{Context: context.Background(), Kind: k, Stage: "s", Params: p, MemoryLimit: 1 << 20,
			In: map[string][]stages.Input{"model": {{Artifact: &artifact.Model{Dir: dir}}}}}
		if err := k.Run(ctx); err == nil || !strings.Contains(err.Error(), "parameter "+param+":") || !strings.Contains(err.Error(), "1.0 MiB allowed") {
			t.Errorf("%s over a 1 MiB limit: %v, want a refusal naming %s", param, err, param)
		}
	}
}
