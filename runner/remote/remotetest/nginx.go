// Package remotetest provides servers speaking Bazel's HTTP cache protocol
// for tests of the remote cache: a real nginx with WebDAV PUT (StartNginx)
// and an in-memory server whose answers a test can break (NewServer).
package remotetest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EnvRequireNginx, set to 1, turns the skip of a test needing nginx on a
// machine without it into a failure (CI sets it).
const EnvRequireNginx = "DIFFLAB_REQUIRE_NGINX"

// Nginx is a running nginx serving a temporary directory as a remote
// cache.
type Nginx struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string
	// Data is the directory served: Data/ac/<key>, Data/cas/<sha256>.
	Data string
}

// nginxConf is the server's configuration: WebDAV PUT on the data folder,
// every path nginx writes inside the temporary folder.
const nginxConf = `daemon off;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log;
worker_processes 1;
events {}
http {
  access_log {{dir}}/access.log;
  client_body_temp_path {{dir}}/body;
  proxy_temp_path {{dir}}/proxy;
  fastcgi_temp_path {{dir}}/fastcgi;
  uwsgi_temp_path {{dir}}/uwsgi;
  scgi_temp_path {{dir}}/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:{{port}};
    root {{dir}}/data;
    location / {
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
}
`

// StartNginx starts nginx (Debian's nginx-light) on a free localhost port
// and stops it when the test ends. Without nginx the test is skipped, or
// fails when EnvRequireNginx is 1.
func StartNginx(t testing.TB) *Nginx {
	t.Helper()
	bin := nginxBinary()
	if bin == "" {
		msg := "nginx with the WebDAV module is not installed (fix: scripts/install-nginx.sh, which runs apt-get install nginx-light)"
		if os.Getenv(EnvRequireNginx) == "1" {
			t.Fatal(msg + "; " + EnvRequireNginx + "=1 requires it")
		}
		t.Skip(msg)
	}
	dir, err := os.MkdirTemp("", "difflab-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	// nginx's workers run as nobody when it starts as root: they must reach
	// the folders and own the data.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if u, err := user.Lookup("nobody"); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			if err := os.Chown(data, uid, -1); err != nil {
				t.Fatal(err)
			}
		}
	}
	var last string
	for try := 0; try < 3; try++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", strconv.Itoa(port)).Replace(nginxConf)
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "-c", confPath, "-p", dir, "-e", filepath.Join(dir, "error.log"))
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		if err := waitReady(url, exited); err != nil {
			cmd.Process.Kill()
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			last = fmt.Sprintf("%v\n%s%s", err, stderr.String(), log)
			continue
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		return &Nginx{URL: url, Data: data}
	}
	t.Fatalf("nginx did not start: %s", last)
	return nil
}

// nginxBinary returns the path of an nginx with the WebDAV module, or "".
func nginxBinary() string {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	out, err := exec.Command(bin, "-V").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("http_dav_module")) {
		return ""
	}
	return bin
}

// freePort returns a localhost TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady waits until the server answers a lookup with 404, or the
// process exits.
func waitReady(url string, exited <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("nginx exited: %v", err)
		default:
		}
		resp, err := client.Get(url + "/ac/" + strings.Repeat("0", 64))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				return nil
			}
			return fmt.Errorf("nginx answers %s to a lookup", resp.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("nginx did not answer within 10s")
}
