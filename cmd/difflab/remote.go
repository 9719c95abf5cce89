package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"difflab/runner"
	"difflab/runner/remote"
)

// remoteFlags are the remote cache flags of run, plan and status.
type remoteFlags struct {
	url      string
	readOnly bool
}

func addRemoteFlags(fs *flag.FlagSet) *remoteFlags {
	f := &remoteFlags{}
	fs.StringVar(&f.url, "remote-cache", "", "URL of a remote cache speaking Bazel's HTTP cache protocol (default $"+remote.EnvURL+
		"; credentials only from $"+remote.EnvToken+", or $"+remote.EnvUser+" and $"+remote.EnvPassword+")")
	fs.BoolVar(&f.readOnly, "remote-cache-read-only", false, "fetch from the remote cache but upload nothing (also "+remote.EnvReadOnly+"=1)")
	return f
}

// open returns the client of the remote cache the flags or the
// environment name, nil when none; ok is false after an error, printed.
func (f *remoteFlags) open(log zerolog.Logger) (c *remote.Client, ok bool) {
	url := f.url
	if url == "" {
		url = os.Getenv(remote.EnvURL)
	}
	if url == "" {
		return nil, true
	}
	c, err := remote.New(url, remote.Options{ReadOnly: f.readOnly || remote.ReadOnlyFromEnv(), Log: log})
	if err != nil {
		fmt.Fprintln(stderr, "difflab:", err)
		return nil, false
	}
	return c, true
}

// remoteTotals describes the remote hits and uploads of a summary, to
// follow its count of cached stages ("" without any).
func remoteTotals(s *runner.Summary, plan bool) string {
	var out string
	switch {
	case s.RemoteHits > 0 && plan:
		out = fmt.Sprintf(" (%d to download from the remote cache)", s.RemoteHits)
	case s.RemoteHits > 0:
		out = fmt.Sprintf(" (%d from the remote cache)", s.RemoteHits)
	}
	if s.Uploaded > 0 {
		out += fmt.Sprintf(", %d uploaded to the remote cache", s.Uploaded)
	}
	return out
}

// remoteStatus is what status says about the remote cache.
type remoteStatus struct {
	URL         string  `json:"url"`
	Reachable   bool    `json:"reachable"`
	Millis      float64 `json:"millis,omitempty"`
	Error       string  `json:"error,omitempty"`
	ReadOnly    bool    `json:"read_only"`
	Credentials string  `json:"credentials"`
}

// probeRemote asks the remote cache c for a lookup and describes the
// answer.
func probeRemote(c *remote.Client) *remoteStatus {
	st := &remoteStatus{URL: c.String(), ReadOnly: c.ReadOnly(), Credentials: c.Credentials()}
	d, err := c.Probe(context.Background())
	if err != nil {
		st.Error = err.Error()
	} else {
		st.Reachable, st.Millis = true, float64(d.Microseconds())/1000
	}
	return st
}

// String describes the status in one line.
func (st *remoteStatus) String() string {
	mode := "read-write"
	if st.ReadOnly {
		mode = "read-only"
	}
	if !st.Reachable {
		return fmt.Sprintf("remote cache %s: unreachable: %s", st.URL, st.Error)
	}
	return fmt.Sprintf("remote cache %s: reachable (a lookup took %.1f ms), %s, credentials: %s", st.URL, st.Millis, mode, st.Credentials)
}
