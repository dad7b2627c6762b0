package intgemm

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestCPUVendor checks the vendor string CPUID gives against the one Linux
// reports in /proc/cpuinfo.
func TestCPUVendor(t *testing.T) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil || runtime.GOARCH != "amd64" {
		t.Skip("no /proc/cpuinfo on amd64 to compare with")
	}
	var want string
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "vendor_id" {
			want = strings.TrimSpace(v)
			break
		}
	}
	if want == "" {
		t.Skip("/proc/cpuinfo names no vendor_id")
	}
	got := CPUVendor()
	if cpuVendor == "" { // a build without assembly
		t.Skip("no CPUID without assembly")
	}
	if got != want {
		t.Errorf("CPUVendor() = %q, /proc/cpuinfo says %q", got, want)
	}
}
