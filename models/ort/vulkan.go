package ort

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The few Vulkan 1.0 declarations needed to list the physical devices,
// written out so that no Vulkan headers are needed to build.
typedef struct {
	int32_t sType; // VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO = 1
	const void *pNext;
	uint32_t flags;
	const void *pApplicationInfo;
	uint32_t enabledLayerCount;
	const char *const *ppEnabledLayerNames;
	uint32_t enabledExtensionCount;
	const char *const *ppEnabledExtensionNames;
} vk_instance_create_info;

typedef void (*vk_void_fn)(void);
typedef vk_void_fn (*vk_get_instance_proc_addr_fn)(void *instance, const char *name);
typedef int32_t (*vk_create_instance_fn)(const vk_instance_create_info *info, const void *allocator, void **instance);
typedef void (*vk_destroy_instance_fn)(void *instance, const void *allocator);
typedef int32_t (*vk_enumerate_physical_devices_fn)(void *instance, uint32_t *count, void **devices);
typedef void (*vk_get_physical_device_properties_fn)(void *device, void *properties);

// The head of VkPhysicalDeviceProperties; the whole struct is 824 bytes.
typedef struct {
	uint32_t apiVersion;
	uint32_t driverVersion;
	uint32_t vendorID;
	uint32_t deviceID;
	int32_t deviceType;
	char deviceName[256];
} vk_device_head;

enum { vk_max_devices = 16, vk_properties_size = 4096 };

typedef struct {
	int count;
	vk_device_head devices[vk_max_devices];
} vk_devices;

// vk_list loads the Vulkan loader named lib and lists its physical devices.
// It returns 0, 1 when the loader does not load (dlerror() says why), 2
// when vkCreateInstance fails (*vkerr holds its VkResult), 3 when a
// function is missing.
static int vk_list(const char *lib, vk_devices *out, int32_t *vkerr) {
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) return 1;
	vk_get_instance_proc_addr_fn gipa = (vk_get_instance_proc_addr_fn)dlsym(h, "vkGetInstanceProcAddr");
	if (!gipa) { dlclose(h); return 3; }
	vk_create_instance_fn create = (vk_create_instance_fn)gipa(NULL, "vkCreateInstance");
	if (!create) { dlclose(h); return 3; }
	vk_instance_create_info info;
	memset(&info, 0, sizeof info);
	info.sType = 1;
	void *instance = NULL;
	*vkerr = create(&info, NULL, &instance);
	if (*vkerr != 0) { dlclose(h); return 2; }
	int rc = 3;
	vk_destroy_instance_fn destroy = (vk_destroy_instance_fn)gipa(instance, "vkDestroyInstance");
	vk_enumerate_physical_devices_fn enumerate = (vk_enumerate_physical_devices_fn)gipa(instance, "vkEnumeratePhysicalDevices");
	vk_get_physical_device_properties_fn props = (vk_get_physical_device_properties_fn)gipa(instance, "vkGetPhysicalDeviceProperties");
	if (destroy && enumerate && props) {
		void *devs[vk_max_devices];
		uint32_t n = vk_max_devices;
		*vkerr = enumerate(instance, &n, devs);
		// VK_INCOMPLETE (5) means more than vk_max_devices: list those.
		if (*vkerr == 0 || *vkerr == 5) {
			void *buf = calloc(1, vk_properties_size);
			if (buf) {
				out->count = 0;
				for (uint32_t i = 0; i < n; i++) {
					props(devs[i], buf);
					memcpy(&out->devices[out->count++], buf, sizeof(vk_device_head));
				}
				free(buf);
				rc = 0;
			}
		} else {
			rc = 2;
		}
	}
	if (destroy) destroy(instance, NULL);
	dlclose(h);
	return rc;
}

static const char *vk_dlerror(void) {
	const char *e = dlerror();
	return e ? e : "unknown error";
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// vulkanLoader is the file name of the Vulkan loader, as Dawn opens it.
const vulkanLoader = "libvulkan.so.1"

// vulkanDevice is one Vulkan physical device.
type vulkanDevice struct {
	Name string
	// Type is VkPhysicalDeviceType: 1 integrated, 2 discrete, 3 virtual,
	// 4 CPU, 0 other.
	Type int
	// API is the Vulkan version the driver supports, such as "1.3.289".
	API string
}

// vulkanDevices lists the physical devices the Vulkan loader lib finds.
// The error wraps ErrNoVulkan when the loader does not load, ErrNoAdapter
// when it loads but finds no device.
func vulkanDevices(lib string) ([]vulkanDevice, error) {
	clib := C.CString(lib)
	defer C.free(unsafe.Pointer(clib))
	var out C.vk_devices
	var vkerr C.int32_t
	switch C.vk_list(clib, &out, &vkerr) {
	case 1:
		return nil, fmt.Errorf("%w: %s", ErrNoVulkan, C.GoString(C.vk_dlerror()))
	case 2:
		// VK_ERROR_INCOMPATIBLE_DRIVER (-9): the loader found no driver.
		return nil, fmt.Errorf("%w: the Vulkan loader %s found no usable driver (VkResult %d)", ErrNoAdapter, lib, int(vkerr))
	case 3:
		return nil, fmt.Errorf("%w: %s is not a usable Vulkan loader", ErrNoVulkan, lib)
	}
	devs := make([]vulkanDevice, int(out.count))
	for i := range devs {
		d := &out.devices[i]
		api := uint32(d.apiVersion)
		devs[i] = vulkanDevice{
			Name: C.GoString(&d.deviceName[0]),
			Type: int(d.deviceType),
			API:  fmt.Sprintf("%d.%d.%d", api>>22&0x7f, api>>12&0x3ff, api&0xfff),
		}
	}
	if len(devs) == 0 {
		return nil, fmt.Errorf("%w: the Vulkan loader %s finds no device", ErrNoAdapter, lib)
	}
	return devs, nil
}

// preferred returns the device a high-performance request picks first: a
// discrete GPU, then an integrated one, then a virtual one, then any other,
// a CPU last.
func preferred(devs []vulkanDevice) vulkanDevice {
	rank := map[int]int{2: 0, 1: 1, 3: 2, 0: 3, 4: 4}
	best := devs[0]
	for _, d := range devs[1:] {
		if rank[d.Type] < rank[best.Type] {
			best = d
		}
	}
	return best
}

// Sentinel errors of CheckDevice for the GPU.
var (
	// ErrNoVulkan means the Vulkan loader (libvulkan.so.1) is not installed.
	ErrNoVulkan = errors.New("ort: no Vulkan loader")
	// ErrNoAdapter means the loader finds no GPU that ONNX Runtime's
	// WebGPU execution provider can use.
	ErrNoAdapter = errors.New("ort: no WebGPU adapter")
)
