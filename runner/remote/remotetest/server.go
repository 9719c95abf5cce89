package remotetest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is an in-memory server speaking Bazel's HTTP cache protocol
// (GET, HEAD, PUT on any path) whose answers a test can break with Fault.
// It is an http.Handler, so a test can also serve it another way, such as
// with httptest.NewTLSServer.
type Server struct {
	// URL is the server's base URL.
	URL string

	mu    sync.Mutex
	store map[string][]byte
	log   []string
	fault func(w http.ResponseWriter, r *http.Request) bool
}

// NewServer starts a Server, closed when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{store: map[string][]byte{}}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// Fault sets a function called before every request is served; when it
// returns true it has answered the request itself. nil removes it.
func (s *Server) Fault(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Get returns what the server stores at path ("/ac/<key>"), or nil.
func (s *Server) Get(path string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store[path]
}

// Set stores b at path.
func (s *Server) Set(path string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store[path] = b
}

// Delete removes what the server stores at path.
func (s *Server) Delete(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.store, path)
}

// Paths lists the stored paths starting with prefix ("/ac/").
func (s *Server) Paths(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p := range s.store {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// Requests returns the requests served so far ("PUT /cas/<sha256>"),
// faulted ones included, and forgets them.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.log
	s.log = nil
	return out
}

// ServeHTTP records the request and answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.log = append(s.log, r.Method+" "+r.URL.Path)
	fault := s.fault
	s.mu.Unlock()
	if fault != nil && fault(w, r) {
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		b := s.Get(r.URL.Path)
		if b == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		if r.Method == http.MethodGet {
			w.Write(b)
		}
	case http.MethodPut:
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.Set(r.URL.Path, b)
		w.WriteHeader(http.StatusCreated)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}
