package sqlite

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
)

const crashDirEnv = "TENANTSTREAM_SQLITE_CRASH_DIR"

// TestCrashChild is the child side of TestCrashSafety: it only runs when re-executed
// with crashDirEnv set, appends until killed and prints "ACK" lines only after
// Append has returned (that is, after the commit was fsynced).
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return // not a child: nothing to do
	}
	s, err := Open(filepath.Join(dir, "events.db"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			stream := events.StreamID(fmt.Sprintf("s%d", g%6)) // two writers per stream: real conflicts
			ctx := context.Background()
			for i := 0; ; i++ {
				var head int64
				if cur, err := s.Load(ctx, "crash", stream, 1); err == nil {
					head = int64(len(cur))
				}
				n := 1 + (g+i)%4
				tag := fmt.Sprintf("g%d-i%d-%d", g, i, rand.Int64())
				evs := make([]events.NewEvent, n)
				for k := range evs {
					evs[k] = events.NewEvent{Type: "crash.tick", Data: json.RawMessage(fmt.Sprintf(`{"tag":%q,"k":%d,"n":%d}`, tag, k, n))}
				}
				res, err := s.Append(ctx, events.AppendRequest{Tenant: "crash", Stream: stream, Expected: events.Exactly(head), Events: evs})
				if err != nil {
					continue
				}
				idList := make([]string, len(res.Events))
				for k, e := range res.Events {
					idList[k] = e.ID
				}
				line := fmt.Sprintf("ACK %s %d %s\n", stream, res.Events[0].Version, strings.Join(idList, ","))
				out.Lock()
				_, _ = os.Stdout.WriteString(line)
				out.Unlock()
			}
		})
	}
	wg.Wait()
}

type ack struct {
	stream events.StreamID
	first  int64
	ids    []string
}

// TestCrashSafety kills a writing child with SIGKILL 20 times and checks after each
// kill that every acknowledged append survived, no append is half there, versions
// have no holes, and the store still takes writes.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var acks []ack
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		killAfter := 20 + rng.IntN(200)
		sc := bufio.NewScanner(stdout)
		seen := 0
		killed := false
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "ACK ") {
				continue
			}
			f := strings.Fields(line)
			require.Len(t, f, 4, line)
			var first int64
			_, err := fmt.Sscan(f[2], &first)
			require.NoError(t, err)
			acks = append(acks, ack{events.StreamID(f[1]), first, strings.Split(f[3], ",")})
			seen++
			if seen >= killAfter && !killed {
				require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
				killed = true
			}
		}
		// Lines already written before the kill are complete acknowledgements; a cut
		// last line would fail the field count above, and Scanner only returns it
		// without a newline, which WriteString of a whole line never leaves.
		_ = cmd.Wait()
		require.True(t, killed, "round %d: child ended before the kill: %s", round, stderr.String())
		checkAfterCrash(t, dir, acks, round)
	}
}

func checkAfterCrash(t *testing.T, dir string, acks []ack, round int) {
	t.Helper()
	s, err := Open(filepath.Join(dir, "events.db"))
	require.NoError(t, err, "round %d", round)
	defer s.Close()
	ctx := context.Background()
	streams := map[events.StreamID][]events.Event{}
	for g := range 6 {
		sid := events.StreamID(fmt.Sprintf("s%d", g))
		evs, err := s.Load(ctx, "crash", sid, 1)
		require.NoError(t, err, "round %d", round)
		streams[sid] = evs
		tags := map[string][]int{}
		for i, e := range evs {
			require.Equal(t, int64(i+1), e.Version, "round %d: %s has a hole", round, sid)
			var d struct {
				Tag  string
				K, N int
			}
			require.NoError(t, json.Unmarshal(e.Data, &d))
			tags[d.Tag] = append(tags[d.Tag], d.K)
			_ = d.N
		}
		for _, e := range evs {
			var d struct {
				Tag string
				N   int
			}
			require.NoError(t, json.Unmarshal(e.Data, &d))
			ks := tags[d.Tag]
			require.Len(t, ks, d.N, "round %d: append %s is partially visible", round, d.Tag)
			for k := range ks {
				require.Equal(t, k, ks[k])
			}
		}
	}
	for _, a := range acks {
		evs := streams[a.stream]
		require.GreaterOrEqual(t, int64(len(evs)), a.first+int64(len(a.ids))-1, "round %d: acknowledged append lost", round)
		for k, id := range a.ids {
			require.Equal(t, id, evs[a.first-1+int64(k)].ID, "round %d: acknowledged event changed", round)
		}
	}
	res, err := s.Append(ctx, events.AppendRequest{Tenant: "crash", Stream: events.StreamID(fmt.Sprintf("after-%d", round)),
		Expected: events.NoStream, Events: []events.NewEvent{{Type: "crash.after", Data: json.RawMessage(`{}`)}}})
	require.NoError(t, err, "round %d: store not writable after crash", round)
	require.Equal(t, int64(1), res.LastVersion())
}
