package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestScheduleEventRetention: ASSETHOOKS_EVENT_RETENTION is a Go duration,
// 168h by default; a flag overrides it; anything else stops the start with
// a message naming the variable.
func TestScheduleEventRetention(t *testing.T) {
	t.Setenv("ASSETHOOKS_EVENT_RETENTION", "") // restored afterwards
	os.Unsetenv("ASSETHOOKS_EVENT_RETENTION")
	s, err := load(nil)
	if err != nil || s.eventRetention != 168*time.Hour {
		t.Fatalf("default: %v, %v; want 168h", s.eventRetention, err)
	}
	t.Setenv("ASSETHOOKS_EVENT_RETENTION", "72h")
	if s, err = load(nil); err != nil || s.eventRetention != 72*time.Hour {
		t.Errorf("72h: %v, %v", s.eventRetention, err)
	}
	if s, err = load([]string{"-event-retention", "30m"}); err != nil || s.eventRetention != 30*time.Minute {
		t.Errorf("flag 30m: %v, %v", s.eventRetention, err)
	}
	for _, bad := range []string{"7d", "", "-1h", "10s"} {
		t.Setenv("ASSETHOOKS_EVENT_RETENTION", bad)
		if _, err := load(nil); err == nil || !strings.Contains(err.Error(), "ASSETHOOKS_EVENT_RETENTION") {
			t.Errorf("%q: %v, want an error naming ASSETHOOKS_EVENT_RETENTION", bad, err)
		}
	}
}

// TestPartitionsSetting: ASSETHOOKS_PARTITIONS is 16 by default, 1 to 1024;
// a flag overrides it; anything else stops the start naming the variable.
func TestPartitionsSetting(t *testing.T) {
	t.Setenv("ASSETHOOKS_PARTITIONS", "") // restored afterwards
	os.Unsetenv("ASSETHOOKS_PARTITIONS")
	if s, err := load(nil); err != nil || s.partitions != 16 {
		t.Fatalf("default: %d, %v; want 16", s.partitions, err)
	}
	t.Setenv("ASSETHOOKS_PARTITIONS", "4")
	if s, err := load(nil); err != nil || s.partitions != 4 {
		t.Errorf("4: %d, %v", s.partitions, err)
	}
	if s, err := load([]string{"-partitions", "1"}); err != nil || s.partitions != 1 {
		t.Errorf("flag 1: %d, %v", s.partitions, err)
	}
	for _, bad := range []string{"0", "1025", "many", "-3", ""} {
		t.Setenv("ASSETHOOKS_PARTITIONS", bad)
		if _, err := load(nil); err == nil || !strings.Contains(err.Error(), "ASSETHOOKS_PARTITIONS") {
			t.Errorf("%q: %v, want an error naming ASSETHOOKS_PARTITIONS", bad, err)
		}
	}
}
