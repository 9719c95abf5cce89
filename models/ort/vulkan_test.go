package ort

import (
	"errors"
	"testing"
)

func TestVulkanDevicesWithoutLoader(t *testing.T) {
	_, err := vulkanDevices("libvulkan-absent.so.1")
	if !errors.Is(err, ErrNoVulkan) {
		t.Fatalf("a loader that is not installed: want ErrNoVulkan, got %v", err)
	}
}

func TestPreferredDevice(t *testing.T) {
	devs := []vulkanDevice{{Name: "llvmpipe", Type: 4}, {Name: "iGPU", Type: 1}, {Name: "H100", Type: 2}, {Name: "other", Type: 0}}
	if d := preferred(devs); d.Name != "H100" {
		t.Errorf("preferred = %s, want the discrete GPU", d.Name)
	}
	if d := preferred(devs[:1]); d.Name != "llvmpipe" {
		t.Errorf("preferred = %s, want the only device", d.Name)
	}
	if d := preferred([]vulkanDevice{devs[0], devs[3]}); d.Name != "other" {
		t.Errorf("preferred = %s, want any device before a CPU", d.Name)
	}
}
