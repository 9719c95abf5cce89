package runner

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"difflab/runner/cache"
	"difflab/runner/remote"
	"difflab/runner/remote/remotetest"
)

// withRemote returns an option setting a remote cache client for url that
// logs into e's log.
func (e *env) withRemote(url string, o remote.Options) func(*Options) {
	e.t.Helper()
	o.Log = zerolog.New(e.log)
	c, err := remote.New(url, o)
	if err != nil {
		e.t.Fatal(err)
	}
	return func(opts *Options) { opts.Remote = c }
}

// sameEntries checks that two caches hold byte-identical files for every
// stage of s.
func sameEntries(t *testing.T, a, b *cache.Cache, s *Summary) {
	t.Helper()
	for _, st := range s.Stages {
		ea, err := a.Get(st.Key, true)
		if err != nil {
			t.Fatal(err)
		}
		eb, err := b.Get(st.Key, true)
		if err != nil {
			t.Fatalf("stage %s: %v", st.ID, err)
		}
		for _, o := range ea.Manifest.Outputs {
			for _, f := range o.Files {
				x, _ := os.ReadFile(filepath.Join(ea.OutDir, f.Path))
				y, err := os.ReadFile(filepath.Join(eb.OutDir, f.Path))
				if err != nil || !bytes.Equal(x, y) {
					t.Fatalf("stage %s file %s differs between the clones (%v)", st.ID, f.Path, err)
				}
			}
		}
	}
}

func TestRemoteCacheSharesEntriesBetweenClones(t *testing.T) {
	n := remotetest.StartNginx(t)
	first := newEnv(t)
	s := first.run(chain(2), first.withRemote(n.URL, remote.Options{}))
	if s.Executed != 4 || s.Uploaded != 4 || s.RemoteHits != 0 || got(first.ran()) != "a b c d" {
		t.Fatalf("first clone: %+v", s)
	}
	if !result(t, s, "c").Uploaded {
		t.Fatal("stage c not marked uploaded")
	}

	second := newEnv(t)
	p, err := Plan(chain(2).g, func() Options { o := second.opts(); second.withRemote(n.URL, remote.Options{})(&o); return o }())
	if err != nil {
		t.Fatal(err)
	}
	if p.WouldRun != 0 || p.RemoteHits != 4 || !strings.HasPrefix(result(t, p, "c").Reason, "cached remotely (downloads 1 file") {
		t.Fatalf("plan of the second clone: %+v", p)
	}
	s = second.run(chain(2), second.withRemote(n.URL, remote.Options{}))
	if s.Executed != 0 || s.Cached != 4 || s.RemoteHits != 4 || s.Uploaded != 0 || len(second.ran()) != 0 {
		t.Fatalf("second clone executed something: %+v", s)
	}
	if !result(t, s, "c").Remote {
		t.Fatal("stage c not marked remote")
	}
	if d := tensorOf(t, second.c, result(t, s, "c").Key); d[0] != 20 || d[3] != 80 {
		t.Fatalf("c = %v", d)
	}
	sameEntries(t, first.c, second.c, s)
	if strings.Contains(second.log.String(), `"level":"warn"`) {
		t.Fatalf("warnings:\n%s", second.log)
	}
	// The entries are local now.
	if s := second.run(chain(2), second.withRemote(n.URL, remote.Options{})); s.Cached != 4 || s.RemoteHits != 0 {
		t.Fatalf("third run: %+v", s)
	}
}

func TestRemoteCacheReadOnlyUploadsNothing(t *testing.T) {
	srv := remotetest.NewServer(t)
	e := newEnv(t)
	s := e.run(chain(2), e.withRemote(srv.URL, remote.Options{ReadOnly: true}))
	if s.Executed != 4 || s.Uploaded != 0 {
		t.Fatalf("%+v", s)
	}
	for _, r := range srv.Requests() {
		if !strings.HasPrefix(r, "GET /ac/") {
			t.Fatalf("read-only run sent %s", r)
		}
	}
}

func TestRemoteCacheRefusingUploadsWarnsOnce(t *testing.T) {
	srv := remotetest.NewServer(t)
	srv.Fault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut {
			http.Error(w, "log in first", http.StatusUnauthorized)
			return true
		}
		return false
	})
	e := newEnv(t)
	s := e.run(chain(2), e.withRemote(srv.URL, remote.Options{}))
	log := e.log.String()
	if s.Executed != 4 || s.Uploaded != 0 || strings.Count(log, `"level":"warn"`) != 1 || !strings.Contains(log, "refuses uploads; going on read-only") {
		t.Fatalf("%+v\n%s", s, log)
	}
}

// seeded returns an in-memory remote cache holding the entries of
// chain(2), computed and uploaded by another clone.
func seeded(t *testing.T) *remotetest.Server {
	srv := remotetest.NewServer(t)
	e := newEnv(t)
	if s := e.run(chain(2), e.withRemote(srv.URL, remote.Options{})); s.Uploaded != 4 {
		t.Fatalf("seeding: %+v", s)
	}
	srv.Requests()
	return srv
}

// servingEdited answers GET /ac/ with the stored manifest as edit changes it.
func servingEdited(srv *remotetest.Server, edit func(m map[string]any)) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/ac/") {
			return false
		}
		var m map[string]any
		json.Unmarshal(srv.Get(r.URL.Path), &m)
		edit(m)
		json.NewEncoder(w).Encode(m)
		return true
	}
}

func firstFile(m map[string]any) map[string]any {
	return m["outputs"].([]any)[0].(map[string]any)["files"].([]any)[0].(map[string]any)
}

func TestRemoteCacheFaultsFallBackToLocalRuns(t *testing.T) {
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String()
	}()
	for _, tc := range []struct {
		name  string
		fault func(srv *remotetest.Server) func(w http.ResponseWriter, r *http.Request) bool
		url   string // instead of the server's
		warn  string // in the log
		// off: the first failure switches the remote cache off, so only
		// the lookups of a and d, which start together (two jobs), reach
		// the server.
		off bool
	}{
		{name: "truncated blob", warn: "truncated", fault: func(srv *remotetest.Server) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/cas/") {
					return false
				}
				b := srv.Get(r.URL.Path)
				w.Header().Set("Content-Length", strconv.Itoa(len(b)))
				w.Write(b[:len(b)/2])
				return true
			}
		}},
		{name: "wrong digest", warn: "has SHA-256", fault: func(srv *remotetest.Server) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/cas/") {
					return false
				}
				b := bytes.Clone(srv.Get(r.URL.Path))
				b[len(b)-1] ^= 1
				w.Write(b)
				return true
			}
		}},
		{name: "garbage manifest", warn: "unreadable manifest", fault: func(*remotetest.Server) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/ac/") {
					return false
				}
				w.Write([]byte("<html>not a manifest"))
				return true
			}
		}},
		{name: "dotdot path", warn: "not a plain relative path", fault: func(srv *remotetest.Server) func(w http.ResponseWriter, r *http.Request) bool {
			return servingEdited(srv, func(m map[string]any) { firstFile(m)["path"] = "../../../escape.npy" })
		}},
		{name: "other key", warn: "manifest names key", fault: func(srv *remotetest.Server) func(w http.ResponseWriter, r *http.Request) bool {
			return servingEdited(srv, func(m map[string]any) { m["key"] = strings.Repeat("0", 64) })
		}},
		{name: "server error", warn: "500 Internal Server Error", off: true, fault: func(*remotetest.Server) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				http.Error(w, "boom", http.StatusInternalServerError)
				return true
			}
		}},
		{name: "slow server", warn: "timeout awaiting response headers", off: true, fault: func(*remotetest.Server) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				<-r.Context().Done()
				return true
			}
		}},
		{name: "connection refused", warn: "connection refused", url: refused, off: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := seeded(t)
			manifests := map[string][]byte{}
			for _, p := range srv.Paths("/ac/") {
				manifests[p] = srv.Get(p)
			}
			if tc.fault != nil {
				srv.Fault(tc.fault(srv))
			}
			url := srv.URL
			if tc.url != "" {
				url = tc.url
			}
			e := newEnv(t)
			start := time.Now()
			s := e.run(chain(2), e.withRemote(url, remote.Options{ResponseTimeout: 200 * time.Millisecond}))
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the run took %v", d)
			}
			if s.Executed != 4 || s.Failed != 0 || s.RemoteHits != 0 || s.Uploaded != 0 || got(e.ran()) != "a b c d" {
				t.Fatalf("want every stage computed here: %+v", s)
			}
			if d := tensorOf(t, e.c, result(t, s, "c").Key); d[0] != 20 || d[3] != 80 {
				t.Fatalf("c = %v", d)
			}
			for _, st := range s.Stages {
				if _, err := e.c.Get(st.Key, true); err != nil {
					t.Fatalf("local entry of %s: %v", st.ID, err)
				}
			}
			log := e.log.String()
			if !strings.Contains(log, tc.warn) || !strings.Contains(log, `"level":"warn"`) {
				t.Fatalf("want a warning containing %q:\n%s", tc.warn, log)
			}
			if tc.off && strings.Count(log, "remote cache unavailable") != 1 {
				t.Fatalf("want one warning that the remote cache is off:\n%s", log)
			}
			reqs := srv.Requests()
			if tc.off && tc.url == "" && len(reqs) > 2 {
				t.Fatalf("requests after the remote cache failed: %q", reqs)
			}
			for _, r := range reqs {
				if strings.HasPrefix(r, "PUT ") {
					t.Fatalf("uploaded over the remote entries: %s", r)
				}
			}
			for p, b := range manifests {
				if !bytes.Equal(srv.Get(p), b) {
					t.Fatalf("remote manifest %s changed", p)
				}
			}
			if tmp, _ := os.ReadDir(filepath.Join(e.c.Root(), "tmp")); len(tmp) != 0 {
				t.Fatalf("leftovers in the cache's tmp: %v", tmp)
			}
			// ../../../ from an entry's out folder in the cache's tmp.
			if _, err := os.Stat(filepath.Join(e.c.Root(), "escape.npy")); err == nil {
				t.Fatal("a file was written outside the entry")
			}
		})
	}
}

func TestPlanSaysWhyARemoteEntryIsRejected(t *testing.T) {
	srv := seeded(t)
	for _, p := range srv.Paths("/cas/") {
		b := srv.Get(p)
		srv.Set(p, b[:len(b)-1])
	}
	e := newEnv(t)
	o := e.opts()
	e.withRemote(srv.URL, remote.Options{})(&o)
	p, err := Plan(chain(2).g, o)
	if err != nil {
		t.Fatal(err)
	}
	r := result(t, p, "c")
	if p.WouldRun != 4 || p.RemoteHits != 0 || !strings.Contains(r.Reason, "no entry (never run); the remote cache's entry is rejected: blob") {
		t.Fatalf("plan: %+v", p)
	}
	if !slices.ContainsFunc(srv.Requests(), func(r string) bool { return strings.HasPrefix(r, "HEAD /cas/") }) {
		t.Fatal("plan did not check the blobs")
	}
}

func TestComputingAStageRepairsAMissingBlob(t *testing.T) {
	srv := seeded(t)
	e := newEnv(t)
	// The blob of source a (out = 1, 2, 3, 4) goes missing on the server.
	o := e.opts()
	s, err := Plan(chain(2).g, o)
	if err != nil {
		t.Fatal(err)
	}
	keyA := result(t, s, "a").Key
	var m cache.Manifest
	if err := json.Unmarshal(srv.Get("/ac/"+keyA), &m); err != nil {
		t.Fatal(err)
	}
	lost := "/cas/" + m.Outputs[0].Files[0].SHA256
	srv.Delete(lost)

	s = e.run(chain(2), e.withRemote(srv.URL, remote.Options{}))
	if got(e.ran()) != "a" || s.RemoteHits != 3 || s.Uploaded != 0 {
		t.Fatalf("want a computed, the rest fetched: %+v", s)
	}
	if !strings.Contains(e.log.String(), "is missing") {
		t.Fatalf("no warning about the missing blob:\n%s", e.log)
	}
	var puts []string
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r, "PUT ") {
			puts = append(puts, r)
		}
	}
	if !slices.Equal(puts, []string{"PUT " + lost}) {
		t.Fatalf("uploads %q, want the lost blob alone", puts)
	}

	third := newEnv(t)
	if s := third.run(chain(2), third.withRemote(srv.URL, remote.Options{})); s.RemoteHits != 4 || len(third.ran()) != 0 {
		t.Fatalf("after the repair: %+v", s)
	}
}

func TestPlanCountsOneDownloadPerKeyAsRunDoes(t *testing.T) {
	srv := seeded(t)
	twice := func() *graph {
		g := chain(2)
		other := chain(2)
		other.exp.Path, other.exp.File = "part/again.yaml", "part/again.yaml"
		g.g.Experiments = append(g.g.Experiments, other.exp)
		g.g.Nodes = append(g.g.Nodes, other.g.Nodes...)
		return g
	}
	e := newEnv(t)
	o := e.opts()
	e.withRemote(srv.URL, remote.Options{})(&o)
	p, err := Plan(twice().g, o)
	if err != nil {
		t.Fatal(err)
	}
	if p.Cached != 8 || p.RemoteHits != 4 {
		t.Fatalf("plan: %+v", p)
	}
	if r := p.Stages[6]; r.Experiment != "part/again.yaml" || r.Remote || r.Reason != "cached remotely (downloaded once, for part/chain.yaml c)" {
		t.Fatalf("plan of the second c: %+v", r)
	}
	s := e.run(twice(), e.withRemote(srv.URL, remote.Options{}))
	if s.Cached != 8 || s.RemoteHits != 4 || len(e.ran()) != 0 {
		t.Fatalf("run: %+v", s)
	}
}
