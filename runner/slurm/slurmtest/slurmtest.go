// Package slurmtest starts a real one-node Slurm cluster for tests:
// Debian's slurm-wlm and munge, configured in a temporary folder, run as
// root, stopped when the test ends.
//
// Tests that need it call Start. Where Slurm is not installed or the test
// does not run as root, Start skips the test with the reason, unless
// DIFFLAB_REQUIRE_SLURM=1 (as CI sets): then the test fails.
package slurmtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the variable that turns a missing Slurm into a failure.
const RequireEnv = "DIFFLAB_REQUIRE_SLURM"

// Cluster is a running one-node cluster. Start sets SLURM_CONF for the
// test, so Slurm's commands run by the test and its children reach it.
type Cluster struct {
	// Dir holds the configuration, the daemons' state and logs.
	Dir string
	// Conf is the path of slurm.conf.
	Conf string
}

// daemons are the programs a cluster needs, besides the client commands.
var daemons = []string{"/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd"}

// Start starts a cluster with one node of two CPUs and stops it when the
// test ends, even when it fails.
func Start(t testing.TB) *Cluster {
	t.Helper()
	unavailable := func(why string) {
		t.Helper()
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s=1 but %s (fix: scripts/install-slurm.sh, as root)", RequireEnv, why)
		}
		t.Skipf("skipping: no Slurm test cluster: %s (scripts/install-slurm.sh installs it; %s=1 makes this a failure)", why, RequireEnv)
	}
	for _, d := range daemons {
		if _, err := os.Stat(d); err != nil {
			unavailable(d + " is not installed")
		}
	}
	for _, c := range []string{"sbatch", "squeue", "scontrol", "scancel", "sinfo"} {
		if _, err := exec.LookPath(c); err != nil {
			unavailable(c + " is not installed")
		}
	}
	if os.Getuid() != 0 {
		unavailable("the daemons must run as root")
	}
	dir, err := os.MkdirTemp("", "slurmtest-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	c := &Cluster{Dir: dir, Conf: filepath.Join(dir, "slurm.conf")}
	t.Cleanup(func() { c.stop(t) })
	if err := c.configure(); err != nil {
		t.Fatalf("slurmtest: %v", err)
	}
	t.Setenv("SLURM_CONF", c.Conf)
	if err := c.start(); err != nil {
		t.Fatalf("slurmtest: %v\n%s", err, c.logs())
	}
	return c
}

// configure writes the munge key and slurm.conf.
func (c *Cluster) configure() error {
	for _, d := range []string{"munge", "state", "spool"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o755); err != nil {
			return err
		}
	}
	key := make([]byte, 1024)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(c.Dir, "munge", "key"), key, 0o400); err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	host, _, _ = strings.Cut(host, ".")
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`ClusterName=difflabtest
SlurmctldHost=%[1]s
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=%[2]s/munge/sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
StateSaveLocation=%[2]s/state
SlurmdSpoolDir=%[2]s/spool
SlurmctldPidFile=%[2]s/slurmctld.pid
SlurmdPidFile=%[2]s/slurmd.pid
SlurmctldLogFile=%[2]s/slurmctld.log
SlurmdLogFile=%[2]s/slurmd.log
SlurmctldPort=%[3]d
SlurmdPort=%[4]d
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
KillWait=5
NodeName=%[1]s CPUs=2 RealMemory=4096 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
`, host, c.Dir, ports[0], ports[1])
	return os.WriteFile(c.Conf, []byte(conf), 0o644)
}

// freePorts returns n TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// start starts munged, slurmctld and slurmd, and waits until the node is
// idle.
func (c *Cluster) start() error {
	m := filepath.Join(c.Dir, "munge")
	if err := run(daemons[0], "--force", "--socket="+m+"/sock", "--key-file="+m+"/key",
		"--log-file="+m+"/log", "--pid-file="+m+"/pid", "--seed-file="+m+"/seed", "--num-threads=1"); err != nil {
		return err
	}
	for _, d := range daemons[1:] {
		if err := run(d, "-f", c.Conf); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("sinfo", "--noheader", "--format=%T").Output()
		if strings.TrimSpace(string(out)) == "idle" {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the node is not idle after 30 s")
}

// run starts a daemon, which detaches itself.
func run(name string, args ...string) error {
	ctx, done := context.WithTimeout(context.Background(), 30*time.Second)
	defer done()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, out)
	}
	return nil
}

// logs returns the tails of the daemons' logs, for a failure message.
func (c *Cluster) logs() string {
	var b strings.Builder
	for _, l := range []string{"munge/log", "slurmctld.log", "slurmd.log"} {
		data, _ := os.ReadFile(filepath.Join(c.Dir, l))
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "== %s\n%s\n", l, strings.Join(lines[max(0, len(lines)-10):], "\n"))
	}
	return b.String()
}

// stop cancels every job, shuts the daemons down and removes the folder.
// It ends only the daemons this cluster started, by the pids in their pid
// files.
func (c *Cluster) stop(t testing.TB) {
	if out, err := exec.Command("squeue", "--noheader", "--format=%i").Output(); err == nil {
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("scancel", ids...).Run()
			// Give the jobs' processes KillWait to end.
			for i := 0; i < 100; i++ {
				out, _ := exec.Command("squeue", "--noheader", "--format=%i").Output()
				if strings.TrimSpace(string(out)) == "" {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	exec.Command("scontrol", "shutdown").Run()
	for _, pf := range []string{"slurmd.pid", "slurmctld.pid", "munge/pid"} {
		stopPid(filepath.Join(c.Dir, pf))
	}
	if !t.Failed() {
		os.RemoveAll(c.Dir)
	} else {
		t.Logf("slurmtest: the cluster's folder is kept: %s\n%s", c.Dir, c.logs())
	}
}

// stopPid ends the process whose pid the file holds: SIGTERM, then
// SIGKILL after 10 s.
func stopPid(file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}
