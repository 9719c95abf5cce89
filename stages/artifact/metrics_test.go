package artifact

import (
	"math"
	"reflect"
	"testing"
)

func TestMetricsRoundTripAndRefuseNaN(t *testing.T) {
	lo, hi := 0.8, 0.95
	m := Metrics{{Name: "accuracy", Value: 0.9, N: 40, Lo: &lo, Hi: &hi}, {Name: "recall", Value: 0.4, N: 40}}
	dir := t.TempDir()
	files, err := m.Save(dir, "metrics")
	if err != nil || !reflect.DeepEqual(files, []string{"metrics.json"}) {
		t.Fatalf("Save: %v, %v", files, err)
	}
	a, err := Load(TypeMetrics, dir, "metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, m) {
		t.Errorf("loaded %+v, saved %+v", a, m)
	}
	if got := a.(Metrics).Get("recall"); got == nil || got.Value != 0.4 || got.Lo != nil {
		t.Errorf("Get(recall) = %+v", got)
	}
	if a.(Metrics).Get("fd") != nil {
		t.Error("Get of a metric not reported is not nil")
	}
	if _, err := (Metrics{{Name: "fd", Value: math.NaN()}}).Save(dir, "bad"); err == nil {
		t.Error("a NaN metric was saved")
	}
}
