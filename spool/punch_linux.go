package spool

import (
	"errors"
	"os"
	"syscall"
)

// punch gives the disk blocks of off..off+n of f back to the file system,
// the file keeping its size (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE):
// reads there return zeros. ok is false when the file system cannot.
func punch(f *os.File, off, n int64) (ok bool, err error) {
	const punchHole, keepSize = 0x02, 0x01
	err = syscall.Fallocate(int(f.Fd()), punchHole|keepSize, off, n)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return false, nil
	}
	return err == nil, err
}
