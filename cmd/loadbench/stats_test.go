package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	// Fields 14 and 15 (utime, stime) are 1234 and 56.
	rest := " S 1 100 100 0 -1 4194560 5000 0 0 0 1234 56 0 0 20 0 12 0 900 1000000 2000 18446744073709551615"
	tests := []struct {
		name    string
		text    string
		want    int64
		wantErr string
	}{
		{"plain", "4242 (assethooks)" + rest, 1290, ""},
		{"name with spaces and parentheses", "4242 (a b) (c))" + rest, 1290, ""},
		{"trailing newline", "7 (x)" + rest + "\n", 1290, ""},
		{"no name", "4242 assethooks S 1", 0, "no command name"},
		{"too short", "4242 (x) S 1 2 3", 0, "fields after the name"},
		{"not a number", "4242 (x) S 1 100 100 0 -1 4194560 5000 0 0 0 abc 56 0", 0, "utime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseProcStat = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
	if got := ticksToDuration(1290); got != 12900*time.Millisecond {
		t.Errorf("ticksToDuration(1290) = %s, want 12.9s", got)
	}
}

func TestParseStatusKB(t *testing.T) {
	t.Parallel()
	status := "Name:\tassethooks\nVmPeak:\t 1300000 kB\nVmHWM:\t   61234 kB\nVmRSS:\t   50000 kB\nThreads:\t12\n"
	if got, err := parseStatusKB(status, "VmHWM"); err != nil || got != 61234 {
		t.Errorf("VmHWM = %d, %v; want 61234", got, err)
	}
	if got, err := parseStatusKB(status, "Threads"); err != nil || got != 12 {
		t.Errorf("Threads = %d, %v; want 12", got, err)
	}
	if _, err := parseStatusKB(status, "VmSwap"); err == nil {
		t.Error("a missing field: no error")
	}
}

// info is an INFO cpu commandstats answer as Redis 7.0 writes it.
const info = "# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250001\r\nused_cpu_sys_children:0.000000\r\n" +
	"used_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:1.400000\r\nused_cpu_user_main_thread:2.200000\r\n\r\n" +
	"# Commandstats\r\ncmdstat_xadd:calls=100,usec=250,usec_per_call=2.50,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_evalsha:calls=40,usec=900,usec_per_call=22.50,rejected_calls=0,failed_calls=1\r\n" +
	"cmdstat_client|list:calls=2,usec=10,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_info:calls=7,usec=70,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n"

func TestParseInfo(t *testing.T) {
	t.Parallel()
	got, err := parseInfo(info)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3750001 * time.Microsecond; got.cpu != want {
		t.Errorf("cpu = %s, want %s", got.cpu, want)
	}
	want := map[string]int64{"xadd": 100, "evalsha": 40, "client|list": 2, "info": 7}
	if diff := cmp.Diff(want, got.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if got.total() != 149 {
		t.Errorf("total = %d, want 149", got.total())
	}

	if _, err := parseInfo("# Commandstats\r\ncmdstat_get:calls=1,usec=1\r\n"); err == nil {
		t.Error("no cpu section: no error")
	}
	if _, err := parseInfo(strings.Replace(info, "calls=100", "calls=x", 1)); err == nil {
		t.Error("a bad calls= value: no error")
	}
}

func TestDiffTakesOutOwnCalls(t *testing.T) {
	t.Parallel()
	before := snapshot{ticks: 100, self: 10, sent: 5, redis: redisStats{cpu: time.Second,
		calls: map[string]int64{"xadd": 10, "info": 3, "get": 4}}}
	after := snapshot{ticks: 150, self: 12, sent: 6, redis: redisStats{cpu: 3 * time.Second,
		calls: map[string]int64{"xadd": 30, "info": 4, "get": 4, "evalsha": 5}}}
	d := diff(before, after)
	want := delta{engineCPU: 500 * time.Millisecond, selfCPU: 20 * time.Millisecond, redisCPU: 2 * time.Second,
		calls: map[string]int64{"xadd": 20, "evalsha": 5}, commands: 25, perMaster: map[string]int64{}}
	if diff := cmp.Diff(want, d, cmp.AllowUnexported(delta{})); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"median of five is the third", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the maximum", hundred, 100, 100 * time.Millisecond},
		{"tiny p is the minimum", hundred, 0.001, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(p%v) = %s, want %s", tt.p, got, tt.want)
			}
		})
	}

	unsorted := ms(9, 1, 5, 3, 7)
	p50, p99, maxd := latencies(unsorted)
	if p50 != 5*time.Millisecond || p99 != 9*time.Millisecond || maxd != 9*time.Millisecond {
		t.Errorf("latencies = %s %s %s, want 5ms 9ms 9ms", p50, p99, maxd)
	}
}

func TestThousands(t *testing.T) {
	t.Parallel()
	for f, want := range map[float64]string{0: "0", 999.4: "999", 999.6: "1,000", 12345: "12,345", 1234567: "1,234,567", -4321: "-4,321"} {
		if got := thousands(f); got != want {
			t.Errorf("thousands(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestTopCommands(t *testing.T) {
	t.Parallel()
	got := topCommands(map[string]int64{"xadd": 200, "get": 100, "evalsha": 200, "set": 50}, 100, 3)
	if want := "evalsha 2.00, xadd 2.00, get 1.00"; got != want {
		t.Errorf("topCommands = %q, want %q", got, want)
	}
}
