// Package ort runs ONNX models through ONNX Runtime (github.com/yalue/onnxruntime_go).
//
// # Overview
//
// Init locates the ONNX Runtime shared library and initialises the runtime
// once per process. Load returns a Session for an ONNX file; sessions are
// shared process-wide by the model's digest, the SHA-256 of the file's bytes
// and of every external data file its tensors reference (ModelFiles lists
// them), so every stage that uses the same model shares one session and two
// models differing only in their external weights never do. Session.Release gives a Load back;
// the IdleSessions most recently released sessions stay loaded for the next
// stage and older ones are destroyed, so a long run does not grow in memory.
// Session.Run takes and returns plain Go slices and is safe for concurrent use.
//
// # Where the library comes from
//
// In order: the environment variable DIFFLAB_ORT_LIB; .difflab/lib/libonnxruntime.so.1
// in the working directory or any of its parents; lib/libonnxruntime.so.1 next to
// the directory holding the running binary (.difflab/bin/difflab finds
// .difflab/lib). `just setup` puts the library there. Init accepts only
// that library, ONNX Runtime LibVersion with the SHA-256 LibSHA256, which
// cache keys name (KeyLines).
//
// # Threads
//
// Each session uses IntraOpThreads threads (default 2, or the environment
// variable DIFFLAB_ORT_THREADS) and graph optimisation level "all".
//
// # Devices
//
// A session runs on a Device: CPU, ONNX Runtime's CPU execution provider,
// or GPU, its WebGPU execution provider, which the onnxruntime-node build of
// the library contains: Dawn on Vulkan, so any GPU with a Vulkan driver, or
// the CPU through Mesa's lavapipe. Options.Device picks it per session,
// UseDevice for every session that does not. CheckDevice tells before
// anything runs whether a device works here: for the GPU, that the Vulkan
// loader (libvulkan.so.1) loads and finds a device, and that a one-node model
// runs on it. The two providers compute the same graphs with different
// rounding: outputs agree to about 1e-7 relative, not bit for bit.
package ort

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"
)

// LibEnv is the environment variable that names the ONNX Runtime shared
// library explicitly.
const LibEnv = "DIFFLAB_ORT_LIB"

// ThreadsEnv is the environment variable that sets the default number of
// intra-op threads per session.
const ThreadsEnv = "DIFFLAB_ORT_THREADS"

// LibName is the file name of the ONNX Runtime shared library.
const LibName = "libonnxruntime.so.1"

// The ONNX Runtime library difflab runs is the one scripts/setup.sh
// installs: LibName of the npm package onnxruntime-node@LibVersion, whose
// file has the SHA-256 LibSHA256 (the script pins the same two values).
// Cache keys name these two (see KeyLines), so that they can be computed
// before the library is loaded, and where it is missing (plan, gc and run
// of cached stages work without it); Init refuses any other library, so a
// stage never computes under a key that names another library than the one
// it ran.
const (
	LibVersion = "1.30.0"
	LibSHA256  = "ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23"
)

// ErrNoLibrary is wrapped by the error Init returns when the shared library
// cannot be found.
var ErrNoLibrary = errors.New("ort: ONNX Runtime library not found")

// ErrWrongLibrary is wrapped by the error Init returns when the library
// found is not the one of LibVersion and LibSHA256.
var ErrWrongLibrary = errors.New("ort: not the ONNX Runtime library difflab runs")

const howToGet = "fix: install it with difflab's set-up, or fetch it by hand: " +
	"`cd /tmp && npm pack onnxruntime-node@" + LibVersion + " && tar xzf onnxruntime-node-" + LibVersion + ".tgz` and copy " +
	"package/bin/napi-v6/linux/x64/" + LibName + " to .difflab/lib/ (or point " + LibEnv + " at it)"

// LibraryPath returns the path of the ONNX Runtime shared library, searching
// the places listed in the package documentation. The error says how to get
// the library.
func LibraryPath() (string, error) {
	if p := os.Getenv(LibEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v; %s", ErrNoLibrary, LibEnv, p, err, howToGet)
		}
		return filepath.Abs(p) // dlopen searches system paths for names without a slash
	}
	var tried []string
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, ".difflab", "lib", LibName)
			if fileExists(p) {
				return p, nil
			}
			tried = append(tried, p)
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(filepath.Dir(exe)), "lib", LibName)
		if fileExists(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	if len(tried) > 3 {
		tried = append(tried[:2], "...", tried[len(tried)-1])
	}
	return "", fmt.Errorf("%w (%s unset; looked at %v); %s", ErrNoLibrary, LibEnv, tried, howToGet)
}

func fileExists(p string) bool {
	info, err := os.Stat(p)
	return err == nil && !info.IsDir()
}

var (
	initOnce sync.Once
	initErr  error
	libPath  string
)

// Init locates the shared library, checks that it is the one of
// LibSHA256, initialises ONNX Runtime and checks that it reports
// LibVersion. Only the first call does the work; later calls return its
// result.
func Init() error {
	initOnce.Do(func() {
		libPath, initErr = LibraryPath()
		if initErr != nil {
			return
		}
		if initErr = checkLibrary(libPath); initErr != nil {
			return
		}
		onnx.SetSharedLibraryPath(libPath)
		if err := onnx.InitializeEnvironment(onnx.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("ort: initialising ONNX Runtime from %s: %w (is it ONNX Runtime %s's %s? %s)", libPath, err, LibVersion, LibName, howToGet)
			return
		}
		if v := onnx.GetVersion(); v != LibVersion {
			initErr = fmt.Errorf("%w: %s reports version %s, want %s; %s", ErrWrongLibrary, libPath, v, LibVersion, howToGet)
		}
	})
	return initErr
}

// checkLibrary checks that the file at path has the SHA-256 LibSHA256.
func checkLibrary(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %v; %s", ErrNoLibrary, err, howToGet)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("ort: reading %s: %w", path, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != LibSHA256 {
		return fmt.Errorf("%w: %s has SHA-256 %s, want %s (ONNX Runtime %s); %s", ErrWrongLibrary, path, sum, LibSHA256, LibVersion, howToGet)
	}
	return nil
}

// KeyLines describes, for cache keys, what besides a model and its inputs
// decides the bits ONNX Runtime computes here: the library (LibVersion and
// LibSHA256, which Init enforces) and the class of kernels it runs on this
// CPU (CPUClass). They need no library: see LibVersion.
func KeyLines() []string {
	return []string{
		fmt.Sprintf("library ONNX Runtime %s, %s sha256 %s", LibVersion, LibName, LibSHA256),
		"cpu " + CPUClass(),
	}
}

// Version returns the version of the loaded ONNX Runtime library, such as
// "1.30.0", initialising it if needed.
func Version() (string, error) {
	if err := Init(); err != nil {
		return "", err
	}
	return onnx.GetVersion(), nil
}

// DefaultThreads returns the default number of intra-op threads: the value of
// DIFFLAB_ORT_THREADS when it is a positive integer, else 2.
func DefaultThreads() int {
	if v, err := strconv.Atoi(os.Getenv(ThreadsEnv)); err == nil && v > 0 {
		return v
	}
	return 2
}
