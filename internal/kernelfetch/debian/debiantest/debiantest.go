// Package debiantest builds a small signed Debian archive of synthetic
// kernel packages and serves it on loopback, for the fetch tests: real
// dpkg-deb packages, a real Release file clear-signed with a throwaway gpg
// key, and an HTTP server that can be told to fail the ways a mirror does
// (down, truncated downloads, a tampered InRelease or .deb: see the
// httpserve package and the debianserve command). Only tests import it;
// it links no networking, so that the cmd/ktest test binary, which is the
// ktest its scripts run, stays a static binary like ktest itself.
package debiantest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ktest-dev/ktest/internal/bzimage/bzimagetest"
	"github.com/ktest-dev/ktest/internal/elftest"
)

// Kernel is one synthetic kernel of the archive.
type Kernel struct {
	Suite   string
	Release string // 6.1.0-50-cloud-amd64
	Version string // 6.1.176-1
	// Split packages it the 7.x way (linux-binary, linux-modules,
	// linux-base); otherwise one linux-image package holds everything.
	Split bool
	// ImagePad makes the image (and its vmlinux) this much larger.
	ImagePad int
}

// DefaultKernels are one kernel per layout and line: 6.1 and 6.12 as one
// image package, 7.2 split. bookworm-backports and experimental are
// deliberately absent (a suite the mirror does not have).
var DefaultKernels = []Kernel{
	{Suite: "bookworm", Release: "6.1.0-50-cloud-amd64", Version: "6.1.176-1"},
	{Suite: "bookworm", Release: "6.1.0-47-cloud-amd64", Version: "6.1.170-3"},
	{Suite: "trixie", Release: "6.12.117+deb13-cloud-amd64", Version: "6.12.117-1"},
	{Suite: "sid", Release: "7.2.13+deb14-cloud-amd64", Version: "7.2.13-1", Split: true},
}

// Archive is a built archive on disk.
type Archive struct {
	// Root is the directory served as the mirror's root.
	Root string
	// Keyring is the binary public keyring the archive is signed with.
	Keyring string
	// Kernels are the kernels it holds.
	Kernels []Kernel
}

// Build writes the archive of kernels under dir, signing it with a new key
// whose GnuPG home is a short-named temporary directory (gpg-agent's socket
// path must stay short) that Build removes again.
func Build(dir string, kernels []Kernel) (*Archive, error) {
	a := &Archive{Root: filepath.Join(dir, "debian"), Keyring: filepath.Join(dir, "keyring.gpg"), Kernels: kernels}
	pool := filepath.Join(a.Root, "pool", "main", "l", "linux")
	if err := os.MkdirAll(pool, 0o755); err != nil {
		return nil, err
	}
	stanzas := map[string][]string{}
	for _, k := range kernels {
		debs, err := buildKernel(dir, pool, k)
		if err != nil {
			return nil, err
		}
		for _, d := range debs {
			stanzas[k.Suite] = append(stanzas[k.Suite], d)
		}
	}
	gnupg, err := os.MkdirTemp("", "kg")
	if err != nil {
		return nil, err
	}
	defer func() {
		exec.Command("gpgconf", "--homedir", gnupg, "--kill", "all").Run()
		os.RemoveAll(gnupg)
	}()
	if err := gpg(gnupg, nil, "--quick-gen-key", "ktest test archive <archive@ktest.invalid>", "ed25519", "sign", "never"); err != nil {
		return nil, err
	}
	pub, err := gpgOut(gnupg, "--export")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(a.Keyring, pub, 0o644); err != nil {
		return nil, err
	}
	for suite, sts := range stanzas {
		if err := writeSuite(a.Root, gnupg, suite, sts); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func gpg(home string, stdin []byte, args ...string) error {
	_, err := gpgRun(home, stdin, args...)
	return err
}

func gpgOut(home string, args ...string) ([]byte, error) { return gpgRun(home, nil, args...) }

func gpgRun(home string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("gpg %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// buildKernel makes the kernel's packages in pool and returns their
// Packages stanzas (Filename relative to the archive root).
func buildKernel(work, pool string, k Kernel) ([]string, error) {
	rel, ver := k.Release, k.Version
	image := bzimagetest.Build(rel, k.ImagePad)
	config := []byte("CONFIG_DUMMY=m\nCONFIG_VETH=m\n")
	mods := map[string][]byte{
		"kernel/drivers/net/dummy.ko": elftest.Module("alias=rtnl-link-dummy", "depends=netdev_helper", "name=dummy", "vermagic="+rel+" SMP mod_unload "),
		"kernel/net/netdev-helper.ko": elftest.Module("name=netdev_helper", "depends=", "vermagic="+rel+" SMP mod_unload "),
		"kernel/drivers/net/veth.ko":  elftest.Module("alias=rtnl-link-veth", "name=veth", "depends=netdev_helper", "vermagic="+rel+" SMP mod_unload "),
	}
	order := []byte("kernel/net/netdev-helper.ko\nkernel/drivers/net/dummy.ko\nkernel/drivers/net/veth.ko\n")
	type pkg struct {
		name    string
		depends string
		files   map[string][]byte
	}
	var pkgs []pkg
	if !k.Split {
		files := map[string][]byte{
			"boot/vmlinuz-" + rel:                        image,
			"boot/config-" + rel:                         config,
			"boot/System.map-" + rel:                     []byte("ffffffffffffffff B The real System.map is in the -dbg package\n"),
			"lib/modules/" + rel + "/modules.order":      order,
			"lib/modules/" + rel + "/modules.builtin":    []byte("kernel/fs/ext4/ext4.ko\n"),
			"usr/share/doc/linux-image-" + rel + "/note": []byte("synthetic\n"),
		}
		for p, d := range mods {
			files["lib/modules/"+rel+"/"+p] = d
		}
		pkgs = append(pkgs, pkg{"linux-image-" + rel, "kmod, linux-base (>= 4.3~)", files})
	} else {
		mfiles := map[string][]byte{}
		for p, d := range mods {
			mfiles["usr/lib/modules/"+rel+"/"+p] = d
		}
		pkgs = append(pkgs,
			pkg{"linux-image-" + rel, fmt.Sprintf("dracut | initramfs-tools (>= 0.120+deb8u2), linux-base-%[1]s (= %[2]s), linux-binary-%[1]s (= %[2]s), linux-modules-%[1]s (= %[2]s)", rel, ver),
				map[string][]byte{"usr/share/doc/linux-image-" + rel + "/note": []byte("meta\n")}},
			pkg{"linux-binary-" + rel, "", map[string][]byte{"usr/lib/modules/" + rel + "/vmlinuz": image}},
			pkg{"linux-modules-" + rel, "", mfiles},
			pkg{"linux-base-" + rel, "", map[string][]byte{
				"usr/lib/modules/" + rel + "/config":          config,
				"usr/lib/modules/" + rel + "/modules.order":   order,
				"usr/lib/modules/" + rel + "/modules.builtin": []byte("kernel/fs/ext4/ext4.ko\n"),
			}})
	}
	pkgs = append(pkgs, pkg{"linux-image-cloud-amd64", fmt.Sprintf("linux-image-%s (= %s)", rel, ver),
		map[string][]byte{"usr/share/doc/linux-image-cloud-amd64/note": []byte("meta\n")}})
	var stanzas []string
	for _, p := range pkgs {
		file := fmt.Sprintf("%s_%s_amd64.deb", p.name, strings.ReplaceAll(ver, ":", "%3a"))
		if p.name == "linux-image-cloud-amd64" {
			file = fmt.Sprintf("%s_%s_%s_amd64.deb", p.name, rel, ver) // one meta per kernel, distinct files
		}
		deb := filepath.Join(pool, file)
		if err := dpkgBuild(work, deb, p.name, ver, p.depends, p.files); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(deb)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		st := fmt.Sprintf("Package: %s\nSource: linux-signed-amd64\nVersion: %s\nArchitecture: amd64\n", p.name, ver)
		if p.depends != "" {
			st += "Depends: " + p.depends + "\n"
		}
		st += fmt.Sprintf("Filename: pool/main/l/linux/%s\nSize: %d\nSHA256: %s\nDescription: synthetic kernel %s\n continuation line of the description\n",
			file, len(data), hex.EncodeToString(sum[:]), rel)
		stanzas = append(stanzas, st)
	}
	return stanzas, nil
}

func dpkgBuild(work, deb, name, ver, depends string, files map[string][]byte) error {
	root, err := os.MkdirTemp(work, "pkg-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	for p, d := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, d, 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755); err != nil {
		return err
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: amd64\nMaintainer: ktest tests <test@ktest.invalid>\nDescription: synthetic kernel package\n", name, ver)
	if depends != "" {
		control += "Depends: " + depends + "\n"
	}
	if err := os.WriteFile(filepath.Join(root, "DEBIAN", "control"), []byte(control), 0o644); err != nil {
		return err
	}
	out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", root, deb).CombinedOutput()
	if err != nil {
		return fmt.Errorf("dpkg-deb --build %s: %v: %s", name, err, out)
	}
	return nil
}

func writeSuite(root, gnupg, suite string, stanzas []string) error {
	dir := filepath.Join(root, "dists", suite)
	bin := filepath.Join(dir, "main", "binary-amd64")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	sort.Strings(stanzas)
	packages := []byte(strings.Join(stanzas, "\n"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(packages)
	zw.Close()
	files := map[string][]byte{"main/binary-amd64/Packages": packages, "main/binary-amd64/Packages.gz": gz.Bytes()}
	var release strings.Builder
	fmt.Fprintf(&release, "Origin: ktest\nLabel: ktest\nSuite: %s\nCodename: %s\nDate: %s\nArchitectures: amd64\nComponents: main\nDescription: synthetic archive\nSHA256:\n",
		suite, suite, time.Now().UTC().Format(time.RFC1123))
	names := []string{"main/binary-amd64/Packages", "main/binary-amd64/Packages.gz"}
	for _, n := range names {
		sum := sha256.Sum256(files[n])
		fmt.Fprintf(&release, " %s %d %s\n", hex.EncodeToString(sum[:]), len(files[n]), n)
		if err := os.WriteFile(filepath.Join(dir, n), files[n], 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Release"), []byte(release.String()), 0o644); err != nil {
		return err
	}
	signed, err := gpgRun(gnupg, []byte(release.String()), "--clearsign", "--digest-algo", "SHA256")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "InRelease"), signed, 0o644)
}

// Failure modes of a server of the archive (httpserve, debianserve).
const (
	ModeOK              = "ok"
	ModeTruncate        = "truncate"         // .deb responses stop half way and the connection drops
	ModeTamperDeb       = "tamper-deb"       // .deb responses have one byte changed
	ModeTamperInRelease = "tamper-inrelease" // InRelease text changed under its signature
	ModeHang            = "hang"             // .deb responses send headers, then nothing until the client goes
)
