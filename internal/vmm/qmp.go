package vmm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// injectNMI sends QEMU's monitor inject-nmi (every vCPU gets an NMI; with
// unknown_nmi_panic=1 the kernel panics and prints a backtrace even when
// no guest code runs any more).
func injectNMI(conn *os.File) error {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetDeadline(time.Time{})
	r := bufio.NewReader(conn)
	if _, err := r.ReadBytes('\n'); err != nil { // the greeting
		return fmt.Errorf("read qmp greeting: %w", err)
	}
	for _, cmd := range []string{"qmp_capabilities", "inject-nmi"} {
		b, _ := json.Marshal(map[string]string{"execute": cmd})
		if _, err := conn.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("qmp %s: %w", cmd, err)
		}
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return fmt.Errorf("qmp %s: %w", cmd, err)
			}
			var reply struct {
				Return *json.RawMessage `json:"return"`
				Error  *struct {
					Desc string `json:"desc"`
				} `json:"error"`
			}
			if json.Unmarshal(line, &reply) != nil {
				continue
			}
			if reply.Error != nil {
				return fmt.Errorf("qmp %s: %s", cmd, reply.Error.Desc)
			}
			if reply.Return != nil {
				break
			}
		}
	}
	return nil
}
