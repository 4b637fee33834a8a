package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"example.com/vmfixture/need"
)

// modprobe is where Debian's kmod puts it; inside a guest it is the host's
// binary, seen through the shared root filesystem.
const modprobe = "/sbin/modprobe"

// TestModuleDummyLink loads the dummy module on demand (`modprobe dummy`,
// which needs /lib/modules/$(uname -r) to be the running kernel's modules)
// and creates a dummy link over rtnetlink, the way `ip link add NAME type
// dummy` does, checks that it exists, and deletes it. The link lives in a
// network namespace of its own, so that a host run leaves no trace.
func TestModuleDummyLink(t *testing.T) {
	need.Root(t)
	if _, err := os.Stat(modprobe); err != nil {
		need.Cannot(t, "no %s (Debian package kmod): %v", modprobe, err)
	}
	if out, err := exec.Command(modprobe, "dummy").CombinedOutput(); err != nil {
		need.Cannot(t, "%s dummy: %v: %s", modprobe, err, out)
	}
	if _, err := os.Stat("/sys/module/dummy"); err != nil {
		t.Fatalf("modprobe dummy succeeded but /sys/module/dummy is missing: %v", err)
	}

	// A namespace belongs to the thread that unshared it: the goroutine
	// keeps its thread locked to the end, so the runtime discards the
	// thread (and the namespace with it) instead of reusing it.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- dummyLink(t)
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func dummyLink(t *testing.T) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare network namespace: %w", err)
	}
	name := fmt.Sprintf("vmfx%d", os.Getpid()%100000)
	sock, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open rtnetlink: %w", err)
	}
	defer unix.Close(sock)
	if err := unix.Bind(sock, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("bind rtnetlink: %w", err)
	}

	kind := attr(unix.IFLA_INFO_KIND, []byte("dummy"))
	req := ifinfomsg(0)
	req = append(req, attr(unix.IFLA_IFNAME, append([]byte(name), 0))...)
	req = append(req, attr(unix.IFLA_LINKINFO|unix.NLA_F_NESTED, kind)...)
	if err := transact(sock, unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, 1, req); err != nil {
		return fmt.Errorf("RTM_NEWLINK %s type dummy: %w", name, err)
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("the new link %s: %w", name, err)
	}
	t.Logf("created %s (index %d, flags %v)", ifc.Name, ifc.Index, ifc.Flags)
	if err := transact(sock, unix.RTM_DELLINK, 0, 2, ifinfomsg(int32(ifc.Index))); err != nil {
		return fmt.Errorf("RTM_DELLINK %s: %w", name, err)
	}
	if _, err := net.InterfaceByName(name); err == nil {
		return fmt.Errorf("link %s still exists after RTM_DELLINK", name)
	}
	return nil
}

// ifinfomsg is a struct ifinfomsg for the link with the given index (0:
// none yet).
func ifinfomsg(index int32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	return b
}

// attr is one netlink attribute, padded to 4 bytes.
func attr(typ uint16, data []byte) []byte {
	b := make([]byte, unix.SizeofRtAttr, unix.SizeofRtAttr+len(data)+3)
	binary.NativeEndian.PutUint16(b[0:], uint16(unix.SizeofRtAttr+len(data)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// transact sends one request asking for an acknowledgement and returns the
// error the kernel acknowledged it with.
func transact(sock int, typ, flags uint16, seq uint32, payload []byte) error {
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(payload))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.SizeofNlMsghdr+len(payload)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	binary.NativeEndian.PutUint32(msg[8:], seq)
	msg = append(msg, payload...)
	if err := unix.Sendto(sock, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(sock, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			size := int(binary.NativeEndian.Uint32(b[0:]))
			if size < unix.SizeofNlMsghdr || size > len(b) {
				return fmt.Errorf("malformed reply (message of %d bytes in %d)", size, len(b))
			}
			mtype, mseq, data := binary.NativeEndian.Uint16(b[4:]), binary.NativeEndian.Uint32(b[8:]), b[unix.SizeofNlMsghdr:size]
			b = b[min(len(b), (size+3)&^3):]
			if mseq != seq || mtype != unix.NLMSG_ERROR {
				continue
			}
			if len(data) < 4 {
				return fmt.Errorf("short NLMSG_ERROR (%d bytes)", len(data))
			}
			if code := int32(binary.NativeEndian.Uint32(data)); code != 0 {
				return unix.Errno(-code)
			}
			return nil
		}
	}
}
