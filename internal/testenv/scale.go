package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel is a throwaway Redis Sentinel deployment on loopback ports: one master,
// two replicas and three sentinels (quorum 2, down-after 1s), all from the machine's
// redis-server, without persistence. Everything is killed when the test ends.
type Sentinel struct {
	// URL is the REDIS_URL of the deployment: redis+sentinel://s1,s2,s3/0?master=NAME.
	URL    string
	Master string // the monitored master's name
	// Nodes are the data servers; Nodes[0] is the first master. Which one is master
	// now is MasterAddr's answer.
	Nodes     []*Redis
	Sentinels []*Redis
}

// StartSentinel starts a Sentinel deployment and waits until the three sentinels
// know the master and both replicas are in sync.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	RequireBinary(t, "redis-server", "apt-get install redis-server")
	s := &Sentinel{Master: "vexen"}
	master := startNode(t)
	s.Nodes = append(s.Nodes, master)
	for range 2 {
		s.Nodes = append(s.Nodes, startNode(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.port)))
	}
	var addrs []string
	for range 3 {
		sn := &Redis{port: FreePort(t), dir: t.TempDir()}
		sn.URL = "redis://127.0.0.1:" + strconv.Itoa(sn.port) + "/0"
		sn.conf = filepath.Join(sn.dir, "sentinel.conf")
		conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nloglevel warning\n"+
			"sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %[3]s 1000\n"+
			"sentinel failover-timeout %[3]s 5000\n"+
			"sentinel parallel-syncs %[3]s 2\n", sn.port, sn.dir, s.Master, master.port)
		Must(t, os.WriteFile(sn.conf, []byte(conf), 0o600), "write sentinel.conf")
		sn.Start(t)
		sn.Client = mustClient(t, sn.URL)
		t.Cleanup(func() {
			sn.Client.Close()
			sn.Stop(t)
		})
		s.Sentinels = append(s.Sentinels, sn)
		addrs = append(addrs, sn.Addr())
	}
	s.URL = "redis+sentinel://" + strings.Join(addrs, ",") + "/0?master=" + s.Master
	s.waitSettled(t, master.Addr(), 20*time.Second)
	return s
}

// startNode starts one throwaway data server with extra arguments.
func startNode(t testing.TB, args ...string) *Redis {
	t.Helper()
	r := &Redis{port: FreePort(t), dir: t.TempDir(), args: args}
	r.URL = "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0"
	r.Start(t)
	r.Client = mustClient(t, r.URL)
	t.Cleanup(func() {
		r.Client.Close()
		r.Stop(t)
	})
	return r
}

// MasterAddr is the master's host:port as the first sentinel that answers sees it.
func (s *Sentinel) MasterAddr(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, sn := range s.Sentinels {
		if sn.cmd == nil {
			continue
		}
		sc := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr()})
		a, err := sc.GetMasterAddrByName(ctx, s.Master).Result()
		sc.Close()
		if err == nil && len(a) == 2 {
			return a[0] + ":" + a[1]
		}
	}
	t.Fatal("testenv: no sentinel knows the master")
	return ""
}

// Node returns the data server listening on addr.
func (s *Sentinel) Node(t testing.TB, addr string) *Redis {
	t.Helper()
	for _, n := range s.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	t.Fatalf("testenv: no node at %s", addr)
	return nil
}

// Failover asks a sentinel for a failover (SENTINEL FAILOVER) and waits until
// every sentinel names a new master and that master accepts writes. It returns the
// old and the new master's addresses.
func (s *Sentinel) Failover(t testing.TB) (old, now string) {
	t.Helper()
	old = s.MasterAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0].Addr()})
	defer sc.Close()
	Must(t, sc.Failover(ctx, s.Master).Err(), "SENTINEL FAILOVER")
	return old, s.waitNewMaster(t, old, 20*time.Second)
}

// KillMaster kills the master process (SIGKILL, as a crash) and waits until the
// sentinels have promoted a replica that accepts writes. The killed node stays down
// until the test calls its Start; sentinels then make it a replica.
func (s *Sentinel) KillMaster(t testing.TB) (old, now string) {
	t.Helper()
	old = s.MasterAddr(t)
	s.Node(t, old).Stop(t)
	return old, s.waitNewMaster(t, old, 30*time.Second)
}

func (s *Sentinel) waitNewMaster(t testing.TB, old string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if a := s.MasterAddr(t); a != old {
			if s.writable(a) {
				return a
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("testenv: no new master after %s within %v", old, timeout)
	return ""
}

// writable reports whether the server at addr is a master that takes a write.
func (s *Sentinel) writable(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	return c.Set(ctx, "testenv:probe", "1", time.Second).Err() == nil
}

// waitSettled waits until every sentinel names master and sees two replicas, and
// the replicas report a live link.
func (s *Sentinel) waitSettled(t testing.TB, master string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	ctx := context.Background()
	for time.Now().Before(deadline) {
		ok := true
		for _, sn := range s.Sentinels {
			sc := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr()})
			a, err := sc.GetMasterAddrByName(ctx, s.Master).Result()
			reps, err2 := sc.Replicas(ctx, s.Master).Result()
			sc.Close()
			if err != nil || err2 != nil || len(a) != 2 || a[0]+":"+a[1] != master || len(reps) != 2 {
				ok = false
				break
			}
		}
		for _, n := range s.Nodes {
			if n.Addr() == master || n.cmd == nil {
				continue
			}
			info, err := n.Client.Info(ctx, "replication").Result()
			if err != nil || !strings.Contains(info, "master_link_status:up") {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("testenv: sentinel deployment did not settle on master %s within %v", master, timeout)
}

// Cluster is a throwaway Redis Cluster on loopback ports: three masters with one
// replica each (redis-cli --cluster create), node timeout 1s, no persistence.
type Cluster struct {
	// URL is the REDIS_URL: redis+cluster://n1,n2,n3 (the first three nodes).
	URL   string
	Nodes []*Redis
}

// StartCluster starts six nodes, creates the cluster and waits until every node
// reports cluster_state:ok.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	RequireBinary(t, "redis-server", "apt-get install redis-server")
	cli := RequireBinary(t, "redis-cli", "apt-get install redis-tools")
	c := &Cluster{}
	var addrs []string
	for range 6 {
		n := startNode(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0")
		c.Nodes = append(c.Nodes, n)
		addrs = append(addrs, n.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.URL = "redis+cluster://" + strings.Join(addrs[:3], ",")
	c.WaitOK(t, 30*time.Second)
	return c
}

// WaitOK waits until every running node reports cluster_state:ok and every slot is
// served by a running master.
func (c *Cluster) WaitOK(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	ctx := context.Background()
	for time.Now().Before(deadline) {
		ok := true
		for _, n := range c.Nodes {
			if n.cmd == nil {
				continue
			}
			info, err := n.Client.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("testenv: cluster not ok within %v", timeout)
}

// MasterOf returns the running node that is master of key's slot.
func (c *Cluster) MasterOf(t testing.TB, key string) *Redis {
	t.Helper()
	ctx := context.Background()
	for _, n := range c.Nodes {
		if n.cmd == nil {
			continue
		}
		slot, err := n.Client.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			continue
		}
		slots, err := n.Client.ClusterSlots(ctx).Result()
		if err != nil {
			continue
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
				for _, m := range c.Nodes {
					if m.Addr() == s.Nodes[0].Addr {
						return m
					}
				}
			}
		}
	}
	t.Fatalf("testenv: no master found for %q", key)
	return nil
}

// KillMaster kills (SIGKILL) the master of key's slot and waits until its replica
// has taken over and the cluster is ok again; it returns the killed node, which the
// test may Start again (it rejoins as a replica).
func (c *Cluster) KillMaster(t testing.TB, key string) *Redis {
	t.Helper()
	m := c.MasterOf(t, key)
	m.Stop(t)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if n := c.MasterOf(t, key); n != m {
			c.WaitOK(t, 30*time.Second)
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("testenv: no replica took over from %s", m.Addr())
	return nil
}
