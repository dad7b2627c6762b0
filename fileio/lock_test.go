package fileio

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A second run, here from the same process, is refused at once and told
	// who holds the directory.
	_, err = Lock(dir)
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Lock(%s) = %v, want a *LockedError", dir, err)
	}
	for _, want := range []string{dir, fmt.Sprintf("pid %d", os.Getpid()), filepath.Base(os.Args[0]), "started"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	// Another directory, even one inside, is independent.
	unlockSub, err := Lock(filepath.Join(dir, "float"))
	if err != nil {
		t.Fatalf("locking a subdirectory: %v", err)
	}
	if err := unlockSub(); err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlock, err = Lock(dir)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, LockName)); err != nil {
		t.Errorf("the lock file is gone: %v", err)
	}
}

func TestLockNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(filepath.Join(file, "out")); err == nil {
		t.Fatal("Lock under a regular file succeeded")
	}
}

// TestLockHelper holds the lock of $A2Q_LOCK_DIR until killed; it is the
// subprocess of TestLockKilledHolder.
func TestLockHelper(t *testing.T) {
	dir := os.Getenv("A2Q_LOCK_DIR")
	if dir == "" {
		t.Skip("helper process of TestLockKilledHolder")
	}
	if _, err := Lock(dir); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(0)
}

// TestLockKilledHolder checks that a run killed with SIGKILL does not
// leave the directory locked, and that while it lived another process was
// refused.
func TestLockKilledHolder(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelper$")
	cmd.Env = append(os.Environ(), "A2Q_LOCK_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 64)
	if n, _ := out.Read(buf); !strings.Contains(string(buf[:n]), "locked") {
		t.Fatalf("helper said %q", buf[:n])
	}
	_, err = Lock(dir)
	if le := (*LockedError)(nil); !errors.As(err, &le) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Fatalf("Lock while a process holds it = %v, want a *LockedError naming pid %d", err, cmd.Process.Pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	unlock()
}

func TestRemoveOrphans(t *testing.T) {
	dir := t.TempDir()
	files := map[string]bool{ // name → removed
		".model.ckpt.tmp123456": true,
		".report.json.tmp7":     true,
		"model.ckpt":            false,
		".model.ckpt.tmp":       false, // no digits: not CreateTemp's
		".model.ckpt.tmpx1":     false,
		"model.ckpt.tmp1":       false, // not hidden
		LockName:                false,
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sub := filepath.Join(dir, ".sub.tmp1")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// A write in progress holds its temporary file.
	busy, err := createTemp(dir, "sweep.json")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	removed, err := RemoveOrphans(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for name, gone := range files {
		if gone {
			want = append(want, name)
		}
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) == gone {
			t.Errorf("%s: removed %v, want %v", name, err != nil, gone)
		}
	}
	slices.Sort(want)
	slices.Sort(removed)
	if !slices.Equal(removed, want) {
		t.Errorf("RemoveOrphans returned %q, want %q", removed, want)
	}
	if _, err := os.Stat(busy.Name()); err != nil {
		t.Errorf("the temporary file of a write in progress was removed: %v", err)
	}
	if _, err := os.Stat(sub); err != nil {
		t.Errorf("a directory was removed: %v", err)
	}
}
