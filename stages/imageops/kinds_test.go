package imageops

import (
	"context"
	"strings"
	"testing"

	"difflab/models/filter"
	"difflab/stages"
	"difflab/stages/artifact"
)

func TestBlurKind(t *testing.T) {
	k, err := stages.Lookup("blur.gaussian")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Check(stages.Params{"kernel_size": 4, "sigma": 1.0}); err == nil || !strings.Contains(err.Error(), "kernel_size") {
		t.Errorf("Check of an even kernel_size gave %v, want an error naming kernel_size", err)
	}
	in := artifact.NewImages(2, 3, 8, 8, 0, 1)
	for i := range in.Data {
		in.Data[i] = float32(i%7) / 7
	}
	ctx := &stages.Context{Context: context.Background(), Kind: k, Stage: "blurred",
		Params: stages.Params{"kernel_size": 5, "sigma": 1.5},
		In:     map[string][]stages.Input{"images": {{Artifact: in}}}}
	if err := k.Run(ctx); err != nil {
		t.Fatal(err)
	}
	out := ctx.Outputs()["images"].(*artifact.Images)
	want := make([]float32, len(in.Data))
	filter.Blur(want, in.Data, 8, 8, filter.GaussianKernel(5, 1.5))
	if out.Lo != 0 || out.Hi != 1 || len(out.Data) != len(want) {
		t.Fatalf("output range [%g, %g] with %d values, want [0, 1] with %d", out.Lo, out.Hi, len(out.Data), len(want))
	}
	for i := range want {
		if out.Data[i] != want[i] {
			t.Fatalf("value %d = %g, want %g", i, out.Data[i], want[i])
		}
	}
}
