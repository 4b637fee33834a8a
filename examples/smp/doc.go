// Package smp shows how a test shapes the VM and checks what the guest
// sees: it asks for 2 vCPUs and 256 MiB of RAM (kerneltest.Config.CPUs and
// MemoryMB), and the body, in the guest, reports the CPUs online and
// MemTotal from /proc/meminfo.
//
// The CPU count must match exactly. Memory cannot: MemTotal is the RAM the
// kernel manages after the firmware's reserved ranges and the kernel's own
// image, its page descriptors (struct page, about 1.6% of RAM) and other
// early allocations are taken out of it. Debian's 6.1 cloud kernel shows
// MemTotal = 218 MiB for 256 MiB (85%); debug options such as KASAN (whose
// shadow alone takes 1/8) reserve more. The test therefore accepts 75% of
// the configured size up to the size itself: a guest that got the wrong
// amount (QEMU's default 128 MiB, or more than asked for) still fails.
package smp
