package runner

import (
	"difflab/runner/experiment"
	"difflab/stages/artifact"
)

// CheckExpectations checks each expectation against the metric it bounds
// in ms. A metric that ms lacks breaks its expectation.
func CheckExpectations(exp []experiment.Expectation, ms artifact.Metrics) []ExpectResult {
	var out []ExpectResult
	for _, e := range exp {
		r := ExpectResult{Metric: e.Metric, Min: e.Min, Max: e.Max, Pos: e.Pos.String()}
		if m := ms.Get(e.Metric); m != nil {
			r.Value, r.N, r.Lo, r.Hi = m.Value, m.N, m.Lo, m.Hi
			r.Met = e.Holds(m.Value)
		} else {
			r.Missing = "the stage did not report " + e.Metric
		}
		out = append(out, r)
	}
	return out
}
