package runner

import "difflab/stages/artifact"

// The statuses of a stage in a Summary.
const (
	StatusExecuted = "executed"  // the stage ran and its entry was published
	StatusCached   = "cached"    // a valid entry existed
	StatusFailed   = "failed"    // the stage ran and failed (Error says why)
	StatusSkipped  = "skipped"   // not run (Reason says why)
	StatusWouldRun = "would-run" // Plan only: the stage has no valid entry
)

// StageResult is what happened to one node.
type StageResult struct {
	// Experiment is the experiment file's path relative to the experiments
	// root; ID is the node id, Kind its stage kind.
	Experiment string `json:"experiment"`
	ID         string `json:"id"`
	Kind       string `json:"kind,omitempty"`
	Status     string `json:"status"`
	Key        string `json:"key,omitempty"`
	// Seconds is the time the stage took (zero unless executed or failed).
	Seconds float64 `json:"seconds"`
	// Error is set for failed stages.
	Error string `json:"error,omitempty"`
	// ResultsError is set when the stage's entry is valid but its outputs
	// could not be copied to the results folder.
	ResultsError string `json:"results_error,omitempty"`
	// Reason says why a stage was skipped or would run.
	Reason string `json:"reason,omitempty"`
	// Outputs lists the result files of the stage, below the results folder.
	Outputs []string `json:"outputs,omitempty"`
	// Remote marks a cached stage whose entry came from the remote cache
	// in this run (for Plan: would come).
	Remote bool `json:"remote,omitempty"`
	// Uploaded marks an executed stage whose entry this run uploaded to the
	// remote cache.
	Uploaded bool `json:"uploaded,omitempty"`
	// Metrics are the measurements of a metric stage (one whose kind
	// declares Metrics) that ran or was cached.
	Metrics artifact.Metrics `json:"metrics,omitempty"`
	// Expectations are the checks of the stage's expectations (expect: in
	// the experiment file) against its Metrics.
	Expectations []ExpectResult `json:"expectations,omitempty"`
	// Job is the id of the job that ran the stage, and JobLog its log
	// file, when an Executor ran it (see Options.Executor).
	Job    string `json:"job,omitempty"`
	JobLog string `json:"job_log,omitempty"`
}

// ExpectResult is one expectation checked against the metric it bounds.
type ExpectResult struct {
	Metric string `json:"metric"`
	// Min and Max are the bound (nil: that side is open).
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Value is the metric's value, N its sample count, Lo and Hi its 95%
	// interval when it has one.
	Value float64  `json:"value"`
	N     int      `json:"n"`
	Lo    *float64 `json:"lo,omitempty"`
	Hi    *float64 `json:"hi,omitempty"`
	// Met says whether the value lies within the bound.
	Met bool `json:"met"`
	// Missing is set when the stage did not report the metric (an
	// accuracy of a set without labels, say); the expectation is unmet.
	Missing string `json:"missing,omitempty"`
	// Pos is where the bound is written (file:line:col).
	Pos string `json:"pos"`
}

// Summary reports a Run or a Plan. It encodes to JSON with stable field
// names.
type Summary struct {
	Executed int `json:"executed"`
	Cached   int `json:"cached"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
	// WouldRun counts the stages Plan found without a valid entry.
	WouldRun int `json:"would_run"`
	// ResultsFailed counts the stages whose outputs could not be copied to
	// the results folder (ResultsError).
	ResultsFailed int `json:"results_failed"`
	// RemoteHits counts the cached stages whose entries came (for Plan:
	// would come) from the remote cache; Uploaded the entries uploaded to
	// it.
	RemoteHits int `json:"remote_hits"`
	Uploaded   int `json:"uploaded"`
	// Unmet counts the expectations whose metric broke its bound or was
	// not reported.
	Unmet int `json:"unmet"`
	// Interrupted is true when the run was cancelled (Ctrl-C).
	Interrupted bool    `json:"interrupted"`
	Seconds     float64 `json:"seconds"`
	// Stages lists every node in the graph's order, skipped experiments
	// first.
	Stages []StageResult `json:"stages"`
}

// count fills the counters from Stages.
func (s *Summary) count() {
	s.Executed, s.Cached, s.Failed, s.Skipped, s.WouldRun, s.ResultsFailed = 0, 0, 0, 0, 0, 0
	s.RemoteHits, s.Uploaded, s.Unmet = 0, 0, 0
	for _, st := range s.Stages {
		for _, e := range st.Expectations {
			if !e.Met {
				s.Unmet++
			}
		}
		if st.ResultsError != "" {
			s.ResultsFailed++
		}
		if st.Remote {
			s.RemoteHits++
		}
		if st.Uploaded {
			s.Uploaded++
		}
		switch st.Status {
		case StatusExecuted:
			s.Executed++
		case StatusCached:
			s.Cached++
		case StatusFailed:
			s.Failed++
		case StatusSkipped:
			s.Skipped++
		case StatusWouldRun:
			s.WouldRun++
		}
	}
}
