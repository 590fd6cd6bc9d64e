// The real node's sandbox ("pause") image: holds a pod's namespaces and sleeps until it is told to stop.
// Built locally (nothing can be pulled) by stack/node.sh into a FROM-scratch image imported into containerd.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	// As PID 1 of a pod with a shared PID namespace it must reap orphans, or they stay zombies.
	reap := make(chan os.Signal, 1)
	signal.Notify(reap, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			return
		case <-reap:
			for {
				pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
