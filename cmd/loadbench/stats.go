package main

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// Linux fixes it at 100 for every architecture it exports /proc on
// (getconf CLK_TCK), whatever the kernel's internal HZ.
const clockTicks = 100

// parseProcStat returns utime+stime, in clock ticks, from the text of
// /proc/<pid>/stat. The command name (field 2) is in parentheses and may
// itself hold spaces and parentheses, so fields are counted from the last
// closing parenthesis.
func parseProcStat(text string) (int64, error) {
	i := strings.LastIndexByte(text, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	f := strings.Fields(text[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the name, want at least 13", len(f))
	}
	utime, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: utime: %w", err)
	}
	stime, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: stime: %w", err)
	}
	return utime + stime, nil
}

// ticksToDuration converts clock ticks to a duration.
func ticksToDuration(t int64) time.Duration {
	return time.Duration(t) * time.Second / clockTicks
}

// parseStatusKB returns the value, in kB, of a line such as "VmHWM:  1234 kB"
// in the text of /proc/<pid>/status.
func parseStatusKB(text, field string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc status: %s: %w", field, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("proc status: no %s line", field)
}

// redisStats is what loadbench reads from one INFO call.
type redisStats struct {
	// cpu is used_cpu_sys + used_cpu_user, all threads of the server.
	cpu time.Duration
	// calls is the number of calls per command (cmdstat_<name>), including
	// the commands run by scripts.
	calls map[string]int64
	// perMaster is, on a cluster, each master's calls of every command but
	// INFO (nil from parseInfo).
	perMaster map[string]int64
}

// total is the number of calls of all commands.
func (s redisStats) total() int64 {
	var n int64
	for _, c := range s.calls {
		n += c
	}
	return n
}

// parseInfo reads the cpu and commandstats sections of an INFO answer.
func parseInfo(text string) (redisStats, error) {
	s := redisStats{calls: map[string]int64{}}
	var sys, user float64
	var haveSys, haveUser bool
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		switch {
		case k == "used_cpu_sys" || k == "used_cpu_user":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return s, fmt.Errorf("redis info: %s: %w", k, err)
			}
			if k == "used_cpu_sys" {
				sys, haveSys = f, true
			} else {
				user, haveUser = f, true
			}
		case strings.HasPrefix(k, "cmdstat_"):
			calls, err := commandCalls(v)
			if err != nil {
				return s, fmt.Errorf("redis info: %s: %w", k, err)
			}
			s.calls[strings.TrimPrefix(k, "cmdstat_")] = calls
		}
	}
	if !haveSys || !haveUser {
		return s, errors.New("redis info: no used_cpu_sys/used_cpu_user (ask for the cpu section)")
	}
	s.cpu = time.Duration(math.Round((sys + user) * float64(time.Second)))
	return s, nil
}

// commandCalls reads calls= from "calls=12,usec=34,usec_per_call=2.83,…".
func commandCalls(v string) (int64, error) {
	for _, kv := range strings.Split(v, ",") {
		if n, ok := strings.CutPrefix(kv, "calls="); ok {
			return strconv.ParseInt(n, 10, 64)
		}
	}
	return 0, errors.New("no calls=")
}

// callsDelta returns after - before per command, leaving out commands that
// did not run.
func callsDelta(before, after redisStats) map[string]int64 {
	d := map[string]int64{}
	for k, a := range after.calls {
		if n := a - before.calls[k]; n > 0 {
			d[k] = n
		}
	}
	return d
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// latencies sorts ds in place and returns its p50, p99 and maximum.
func latencies(ds []time.Duration) (p50, p99, maxd time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	return percentile(ds, 50), percentile(ds, 99), ds[len(ds)-1]
}
