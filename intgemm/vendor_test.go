package intgemm

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// cpuinfo returns the first value of field key in /proc/cpuinfo, skipping
// the test where there is none to compare with.
func cpuinfo(t *testing.T, key string) string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil || runtime.GOARCH != "amd64" {
		t.Skip("no /proc/cpuinfo on amd64 to compare with")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	t.Skipf("/proc/cpuinfo names no %s", key)
	return ""
}

// TestCPUVendor checks the vendor string and the family CPUID gives against
// those Linux reports in /proc/cpuinfo.
func TestCPUVendor(t *testing.T) {
	want, wantFamily := cpuinfo(t, "vendor_id"), cpuinfo(t, "cpu family")
	if cpuVendor == "" { // a build without assembly
		t.Skip("no CPUID without assembly")
	}
	if got := CPUVendor(); got != want {
		t.Errorf("CPUVendor() = %q, /proc/cpuinfo says %q", got, want)
	}
	if got := strconv.Itoa(CPUFamily()); got != wantFamily {
		t.Errorf("CPUFamily() = %s, /proc/cpuinfo says %s", got, wantFamily)
	}
}
