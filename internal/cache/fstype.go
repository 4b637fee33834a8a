package cache

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/hint"
)

// untrustedFS maps statfs f_type magics (from <linux/magic.h>) of filesystems
// on which flock(2) cannot be trusted to the reason given to the user. It is a
// deny-list: an unknown local filesystem is accepted.
var untrustedFS = map[uint32]struct{ name, reason string }{
	unix.NFS_SUPER_MAGIC:  {"NFS", "NFSv3 flock is advisory-only without an NLM peer and NFSv4 locks do not cover flock(2) between clients"},
	unix.CIFS_SUPER_MAGIC: {"CIFS/SMB", "SMB locks do not appear in /proc/locks and are not shared with other clients"},
	unix.SMB2_SUPER_MAGIC: {"SMB2", "SMB locks do not appear in /proc/locks and are not shared with other clients"},
	unix.SMB_SUPER_MAGIC:  {"SMB", "SMB locks do not appear in /proc/locks and are not shared with other clients"},
	unix.CEPH_SUPER_MAGIC: {"CephFS", "the Ceph MDS does not serialise flock(2) between clients on different nodes"},
	unix.AFS_FS_MAGIC:     {"AFS (kAFS)", "AFS does not support flock(2) between clients"},
	unix.AFS_SUPER_MAGIC:  {"AFS (OpenAFS)", "AFS does not support flock(2) between clients"},
	unix.FUSE_SUPER_MAGIC: {"FUSE", "flock(2) works only if the userspace server implements it, and may silently succeed without excluding anyone"},
}

// classifyFSMagic returns an error naming the filesystem and the reason when
// flock on a filesystem with statfs magic f_type cannot be trusted, else nil.
// f_type is compared as 32 bits: every magic fits, and 32-bit kernels report
// the large ones (CIFS, SMB2) sign-extended.
func classifyFSMagic(fType int64) error {
	if fs, bad := untrustedFS[uint32(fType)]; bad {
		return fmt.Errorf("filesystem is %s (statfs magic %#x): %s", fs.name, uint32(fType), fs.reason)
	}
	return nil
}

// checkLockableFS refuses a directory on a filesystem where flock(2) cannot
// be trusted. The caller uses it for lockfile directories and the cache root.
// A statfs failure other than "does not exist" is returned; a missing path is
// left for the following open/mkdir to report.
func checkLockableFS(dir, use string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	if err := classifyFSMagic(int64(st.Type)); err != nil {
		return hint.Wrap(fmt.Errorf("refuse %s %s: %w", use, dir, err), lockableFSHint)
	}
	return nil
}
