package remote_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"difflab/runner/cache"
	"difflab/runner/logtest"
	"difflab/runner/remote"
	"difflab/runner/remote/remotetest"
	"difflab/stages/artifact"
)

func newClient(t *testing.T, url string, o remote.Options) (*remote.Client, *logtest.Buffer) {
	t.Helper()
	log := &logtest.Buffer{}
	o.Log = zerolog.New(log)
	c, err := remote.New(url, o)
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

func openCache(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.Open(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// files are the artifact files of the test entry: a nested path, an empty
// file and two files with the same bytes.
var files = map[string]string{
	"model/epoch_001/weights.bin": strings.Repeat("w", 3000),
	"model/model.json":            "{}",
	"notes.txt":                   "",
	"copy.txt":                    "{}",
}

// publish publishes an entry holding files in c and returns it.
func publish(t *testing.T, c *cache.Cache, salt string) *cache.Entry {
	t.Helper()
	lines := []string{cache.FormatVersion, "kind test.remote 1", "param salt " + salt}
	key := cache.SumLines(lines)
	p, err := c.Begin(key)
	if err != nil {
		t.Fatal(err)
	}
	m := &cache.Manifest{Kind: "test.remote", KindVersion: 1, Stage: "s", Experiment: "e.yaml", KeyLines: lines}
	model := cache.Output{Name: "model", Type: artifact.TypeModel}
	text := cache.Output{Name: "text", Type: artifact.TypeText}
	for name, body := range files {
		path := filepath.Join(p.OutDir(), filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(name, "model/") {
			model.Files = append(model.Files, cache.File{Path: name})
		} else {
			text.Files = append(text.Files, cache.File{Path: name})
		}
	}
	m.Outputs = []cache.Output{model, text}
	e, err := p.Commit(m)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNewChecksURLAndCredentials(t *testing.T) {
	for _, tc := range []struct{ url, env, want string }{
		{"http://alice:secret@cache.example:8080", "", "DIFFLAB_REMOTE_CACHE_USER"},
		{"http://alice@cache.example", "", "carries credentials"},
		{"ftp://cache.example", "", "want http:// or https://"},
		{"cache.example:8080", "", "want http:// or https://"},
		{"http://cache.example/?token=x", "", "query"},
		{"https://cache.example", "token+user", "both"},
		{"https://cache.example", "user", "needs both"},
	} {
		t.Run(tc.url+" "+tc.env, func(t *testing.T) {
			for _, v := range []string{remote.EnvToken, remote.EnvUser, remote.EnvPassword} {
				t.Setenv(v, "")
			}
			if strings.Contains(tc.env, "token") {
				t.Setenv(remote.EnvToken, "t")
			}
			if strings.Contains(tc.env, "user") {
				t.Setenv(remote.EnvUser, "u")
			}
			_, err := remote.New(tc.url, remote.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%q) = %v, want an error containing %q", tc.url, err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("the error repeats the password: %v", err)
			}
		})
	}
}

func TestCredentialsComeFromTheEnvironment(t *testing.T) {
	s := remotetest.NewServer(t)
	var got []string
	var mu sync.Mutex
	s.Fault(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		return false
	})
	key := strings.Repeat("a", 64)
	t.Setenv(remote.EnvToken, "tok")
	c, _ := newClient(t, s.URL+"/", remote.Options{})
	c.Lookup(context.Background(), key, nil)
	t.Setenv(remote.EnvToken, "")
	t.Setenv(remote.EnvUser, "alice")
	t.Setenv(remote.EnvPassword, "pw")
	c, _ = newClient(t, s.URL, remote.Options{})
	c.Lookup(context.Background(), key, nil)
	want := []string{"Bearer tok", "Basic YWxpY2U6cHc="}
	if !slices.Equal(got, want) {
		t.Fatalf("Authorization headers %q, want %q", got, want)
	}
	if c.Credentials() != "basic authentication from DIFFLAB_REMOTE_CACHE_USER and DIFFLAB_REMOTE_CACHE_PASSWORD" {
		t.Fatalf("Credentials() = %q", c.Credentials())
	}
}

func TestCredentialsOverPlainHTTPAreWarnedAbout(t *testing.T) {
	t.Setenv(remote.EnvToken, "tok")
	for url, warn := range map[string]bool{"http://cache.example": true, "https://cache.example": false, "http://127.0.0.1:9": false} {
		_, log := newClient(t, url, remote.Options{})
		if strings.Contains(log.String(), "unencrypted") != warn || strings.Contains(log.String(), "tok") {
			t.Errorf("%s: log %q", url, log)
		}
	}
}

func validManifest() (*cache.Manifest, string) {
	lines := []string{cache.FormatVersion, "kind k 1"}
	key := cache.SumLines(lines)
	sum := strings.Repeat("b", 64)
	return &cache.Manifest{Format: cache.FormatVersion, Key: key, KeyLines: lines, Outputs: []cache.Output{
		{Name: "out", Files: []cache.File{{Path: "out.npy", SHA256: sum}, {Path: "model/w.bin", SHA256: sum}}},
	}}, key
}

func TestCheckRejectsManifestsThatCouldWriteElsewhere(t *testing.T) {
	m, key := validManifest()
	if err := remote.Check(m, key); err != nil {
		t.Fatalf("valid manifest: %v", err)
	}
	for name, tc := range map[string]struct {
		edit func(m *cache.Manifest)
		want string
	}{
		"dotdot":        {func(m *cache.Manifest) { m.Outputs[0].Files[0].Path = "../../escape.npy" }, "not a plain relative path"},
		"inner dotdot":  {func(m *cache.Manifest) { m.Outputs[0].Files[0].Path = "model/../out2.npy" }, "not a plain relative path"},
		"absolute":      {func(m *cache.Manifest) { m.Outputs[0].Files[0].Path = "/etc/passwd" }, "not a plain relative path"},
		"empty":         {func(m *cache.Manifest) { m.Outputs[0].Files[0].Path = "" }, "not a plain relative path"},
		"dot":           {func(m *cache.Manifest) { m.Outputs[0].Files[0].Path = "./out.npy" }, "not a plain relative path"},
		"double slash":  {func(m *cache.Manifest) { m.Outputs[0].Files[0].Path = "model//x" }, "not a plain relative path"},
		"backslash":     {func(m *cache.Manifest) { m.Outputs[0].Files[0].Path = `..\x` }, "not a plain relative path"},
		"duplicate":     {func(m *cache.Manifest) { m.Outputs[0].Files[1].Path = "out.npy" }, "twice"},
		"inside a file": {func(m *cache.Manifest) { m.Outputs[0].Files[0].Path = "model" }, "inside file"},
		"other key":     {func(m *cache.Manifest) { m.Key = strings.Repeat("c", 64) }, "names key cccccccccccc"},
		"key lines":     {func(m *cache.Manifest) { m.KeyLines = append(m.KeyLines, "param x 1") }, "do not hash"},
		"format":        {func(m *cache.Manifest) { m.Format = "difflab-cache v0" }, "format"},
		"digest":        {func(m *cache.Manifest) { m.Outputs[0].Files[0].SHA256 = "xyz" }, "digest"},
		"size":          {func(m *cache.Manifest) { m.Outputs[0].Files[0].Size = -1 }, "size -1"},
		"no files":      {func(m *cache.Manifest) { m.Outputs[0].Files = nil }, "no files"},
	} {
		t.Run(name, func(t *testing.T) {
			m, key := validManifest()
			tc.edit(m)
			if err := remote.Check(m, key); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestUploadSendsBlobsOnceThenTheManifestAndFetchVerifies(t *testing.T) {
	s := remotetest.NewServer(t)
	c, log := newClient(t, s.URL, remote.Options{})
	ctx := context.Background()
	e := publish(t, openCache(t), "1")
	ok, err := c.Upload(ctx, e)
	if err != nil || !ok {
		t.Fatalf("Upload = %v, %v", ok, err)
	}
	reqs := s.Requests()
	var puts []string
	for _, r := range reqs {
		if strings.HasPrefix(r, "PUT ") {
			puts = append(puts, r)
		}
	}
	// weights.bin and the {} shared by model.json and copy.txt; the empty
	// file needs no blob; the manifest last.
	if len(puts) != 3 || puts[2] != "PUT /ac/"+e.Key || !strings.HasPrefix(puts[0], "PUT /cas/") || !strings.HasPrefix(puts[1], "PUT /cas/") {
		t.Fatalf("PUT requests %q, want two blobs then the manifest", puts)
	}
	var stored cache.Manifest
	if err := json.Unmarshal(s.Get("/ac/"+e.Key), &stored); err != nil {
		t.Fatal(err)
	}
	for _, o := range stored.Outputs {
		for _, f := range o.Files {
			if f.MtimeNS != 0 {
				t.Fatalf("uploaded manifest keeps a local modification time: %+v", f)
			}
		}
	}

	// Again: the server holds everything, nothing is sent.
	if ok, err := c.Upload(ctx, e); ok || err != nil {
		t.Fatalf("second Upload = %v, %v", ok, err)
	}
	for _, r := range s.Requests() {
		if !strings.HasPrefix(r, "HEAD ") {
			t.Fatalf("second upload sent %s", r)
		}
	}

	other := openCache(t)
	got, err := c.Fetch(ctx, other, e.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Get(e.Key, true); err != nil {
		t.Fatalf("fetched entry does not verify: %v", err)
	}
	if !strings.HasPrefix(got.Manifest.Fetched, c.String()+" at ") {
		t.Fatalf("the fetched entry's manifest says it came from %q, want %s", got.Manifest.Fetched, c)
	}
	for name, body := range files {
		b, err := os.ReadFile(filepath.Join(got.OutDir, filepath.FromSlash(name)))
		if err != nil || string(b) != body {
			t.Fatalf("%s = %q, %v; want %q", name, b, err, body)
		}
	}
	if log.String() != "" {
		t.Fatalf("unexpected log: %s", log)
	}
}

func TestUploadNeverOverwritesAManifest(t *testing.T) {
	s := remotetest.NewServer(t)
	c, _ := newClient(t, s.URL, remote.Options{})
	e := publish(t, openCache(t), "1")
	s.Set("/ac/"+e.Key, []byte("theirs"))
	if ok, err := c.Upload(context.Background(), e); ok || err != nil {
		t.Fatalf("Upload = %v, %v", ok, err)
	}
	if string(s.Get("/ac/"+e.Key)) != "theirs" {
		t.Fatal("the manifest was overwritten")
	}
}

func TestReadOnlySendsNothing(t *testing.T) {
	s := remotetest.NewServer(t)
	c, _ := newClient(t, s.URL, remote.Options{ReadOnly: true})
	if ok, err := c.Upload(context.Background(), publish(t, openCache(t), "1")); ok || err != nil {
		t.Fatalf("Upload = %v, %v", ok, err)
	}
	if r := s.Requests(); len(r) != 0 {
		t.Fatalf("read-only client sent %q", r)
	}
}

func TestFetchRejectsABlobThatDoesNotMatch(t *testing.T) {
	s := remotetest.NewServer(t)
	c, _ := newClient(t, s.URL, remote.Options{})
	e := publish(t, openCache(t), "1")
	if _, err := c.Upload(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Paths("/cas/") {
		b := s.Get(p)
		s.Set(p, append([]byte("X"), b[1:]...))
	}
	other := openCache(t)
	_, err := c.Fetch(context.Background(), other, e.Key, nil)
	var rejected *remote.RejectedError
	if !errors.As(err, &rejected) || !strings.Contains(err.Error(), "has SHA-256") {
		t.Fatalf("Fetch = %v, want a rejection for the digest", err)
	}
	if _, err := other.Get(e.Key, false); err == nil {
		t.Fatal("a rejected entry was published")
	}
	if tmp, _ := os.ReadDir(filepath.Join(other.Root(), "tmp")); len(tmp) != 0 {
		t.Fatalf("leftovers in tmp: %v", tmp)
	}
	if !c.Available() {
		t.Fatal("a rejected entry switched the client off")
	}
}

func TestServerErrorSwitchesTheClientOff(t *testing.T) {
	s := remotetest.NewServer(t)
	s.Fault(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "boom", http.StatusInternalServerError)
		return true
	})
	c, log := newClient(t, s.URL, remote.Options{})
	key := strings.Repeat("a", 64)
	for range 3 {
		if _, err := c.Fetch(context.Background(), openCache(t), key, nil); !errors.Is(err, remote.ErrUnavailable) {
			t.Fatalf("Fetch = %v, want ErrUnavailable", err)
		}
	}
	if r := s.Requests(); len(r) != 1 {
		t.Fatalf("requests %q, want one", r)
	}
	if n := strings.Count(log.String(), "remote cache unavailable"); n != 1 || !strings.Contains(log.String(), "500 Internal Server Error") {
		t.Fatalf("log, want one warning naming the 500:\n%s", log)
	}
}

func TestTimeouts(t *testing.T) {
	key := strings.Repeat("a", 64)
	for name, fault := range map[string]func(w http.ResponseWriter, r *http.Request) bool{
		"no answer": func(w http.ResponseWriter, r *http.Request) bool {
			<-r.Context().Done() // the client hangs up
			return true
		},
		"stalled body": func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Length", "1000")
			w.Write([]byte("{"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return true
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := remotetest.NewServer(t)
			s.Fault(fault)
			c, log := newClient(t, s.URL, remote.Options{ResponseTimeout: 200 * time.Millisecond, StallTimeout: 300 * time.Millisecond})
			start := time.Now()
			_, err := c.Fetch(context.Background(), openCache(t), key, nil)
			if !errors.Is(err, remote.ErrUnavailable) || time.Since(start) > 1500*time.Millisecond {
				t.Fatalf("Fetch = %v after %v, want ErrUnavailable within the timeout", err, time.Since(start))
			}
			if !strings.Contains(log.String(), "remote cache unavailable") {
				t.Fatalf("no warning: %s", log)
			}
		})
	}
}

func TestRefusedConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	c, log := newClient(t, url, remote.Options{})
	start := time.Now()
	if _, err := c.Lookup(context.Background(), strings.Repeat("a", 64), nil); !errors.Is(err, remote.ErrUnavailable) {
		t.Fatalf("Lookup = %v", err)
	}
	if _, err := c.Upload(context.Background(), publish(t, openCache(t), "1")); !errors.Is(err, remote.ErrUnavailable) {
		t.Fatalf("Upload = %v", err)
	}
	if d := time.Since(start); d > time.Second || strings.Count(log.String(), "connection refused") != 1 {
		t.Fatalf("after %v, log:\n%s", d, log)
	}
}

func TestRefusedUploadGoesReadOnly(t *testing.T) {
	s := remotetest.NewServer(t)
	s.Fault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut {
			http.Error(w, "no", http.StatusForbidden)
			return true
		}
		return false
	})
	c, log := newClient(t, s.URL, remote.Options{})
	if _, err := c.Upload(context.Background(), publish(t, openCache(t), "1")); err == nil {
		t.Fatal("Upload succeeded")
	}
	if !c.ReadOnly() || !c.Available() || !strings.Contains(log.String(), "refuses uploads") {
		t.Fatalf("read-only %v, available %v, log:\n%s", c.ReadOnly(), c.Available(), log)
	}
}

func TestManifestRefusedByBazelRemoteNamesTheFlag(t *testing.T) {
	s := remotetest.NewServer(t)
	s.Fault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/ac/") {
			http.Error(w, "not an ActionResult", http.StatusBadRequest)
			return true
		}
		return false
	})
	c, _ := newClient(t, s.URL, remote.Options{})
	if _, err := c.Upload(context.Background(), publish(t, openCache(t), "1")); err == nil || !strings.Contains(err.Error(), "--disable_http_ac_validation") {
		t.Fatalf("Upload = %v", err)
	}
}

func TestHTTPSWithTheCertificatesOfSSLCertFile(t *testing.T) {
	s := remotetest.NewServer(t)
	ts := httptest.NewTLSServer(s)
	defer ts.Close()
	// Go reads SSL_CERT_FILE when a process first verifies a certificate:
	// no test of this package before this one uses TLS.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", ca)
	t.Setenv(remote.EnvToken, "tok")
	c, log := newClient(t, ts.URL, remote.Options{})
	e := publish(t, openCache(t), "tls")
	if ok, err := c.Upload(context.Background(), e); !ok || err != nil {
		t.Fatalf("Upload over https = %v, %v\n%s", ok, err, log)
	}
	if _, err := c.Fetch(context.Background(), openCache(t), e.Key, nil); err != nil {
		t.Fatalf("Fetch over https: %v", err)
	}
	if log.String() != "" {
		t.Fatalf("unexpected log: %s", log)
	}
}

func TestNginxRoundTrip(t *testing.T) {
	n := remotetest.StartNginx(t)
	c, log := newClient(t, n.URL, remote.Options{})
	ctx := context.Background()
	e := publish(t, openCache(t), "nginx")
	if ok, err := c.Upload(ctx, e); !ok || err != nil {
		t.Fatalf("Upload = %v, %v", ok, err)
	}
	if _, err := os.Stat(filepath.Join(n.Data, "ac", e.Key)); err != nil {
		t.Fatalf("nginx did not store the manifest: %v", err)
	}
	m, err := c.Lookup(ctx, e.Key, nil)
	if err != nil || m.Key != e.Key {
		t.Fatalf("Lookup = %v, %v", m, err)
	}
	other := openCache(t)
	if _, err := c.Fetch(ctx, other, e.Key, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Get(e.Key, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(ctx, strings.Repeat("0", 64), nil); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Lookup of a missing key = %v", err)
	}
	if d, err := c.Probe(ctx); err != nil || d <= 0 {
		t.Fatalf("Probe = %v, %v", d, err)
	}
	if log.String() != "" {
		t.Fatalf("unexpected log: %s", log)
	}
}
