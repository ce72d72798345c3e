// Vulkan compute through a loader opened at run time (see vulkan_device.h).

#include "runtime/gpu/vulkan_device.h"

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <algorithm>
#include <cstring>
#include <dlfcn.h>
#include <map>

namespace gemmac::vk {

namespace {

// The Vulkan functions the layer calls, resolved from the loader.
#define GEMMAC_VK_INSTANCE_FNS(X)                                              \
  X(DestroyInstance)                                                           \
  X(EnumeratePhysicalDevices)                                                  \
  X(GetPhysicalDeviceProperties)                                               \
  X(GetPhysicalDeviceQueueFamilyProperties)                                    \
  X(GetPhysicalDeviceMemoryProperties)                                         \
  X(GetPhysicalDeviceFeatures2)                                                \
  X(CreateDevice)                                                              \
  X(GetDeviceProcAddr)
#define GEMMAC_VK_DEVICE_FNS(X)                                                \
  X(DestroyDevice)                                                             \
  X(GetDeviceQueue)                                                            \
  X(CreateBuffer)                                                              \
  X(DestroyBuffer)                                                             \
  X(GetBufferMemoryRequirements)                                               \
  X(AllocateMemory)                                                            \
  X(FreeMemory)                                                                \
  X(BindBufferMemory)                                                          \
  X(MapMemory)                                                                 \
  X(UnmapMemory)                                                               \
  X(CreateShaderModule)                                                        \
  X(DestroyShaderModule)                                                       \
  X(CreateDescriptorSetLayout)                                                 \
  X(DestroyDescriptorSetLayout)                                                \
  X(CreatePipelineLayout)                                                      \
  X(DestroyPipelineLayout)                                                     \
  X(CreateComputePipelines)                                                    \
  X(DestroyPipeline)                                                           \
  X(CreateDescriptorPool)                                                      \
  X(DestroyDescriptorPool)                                                     \
  X(ResetDescriptorPool)                                                       \
  X(AllocateDescriptorSets)                                                    \
  X(UpdateDescriptorSets)                                                      \
  X(CreateCommandPool)                                                         \
  X(DestroyCommandPool)                                                        \
  X(AllocateCommandBuffers)                                                    \
  X(ResetCommandBuffer)                                                        \
  X(BeginCommandBuffer)                                                        \
  X(EndCommandBuffer)                                                          \
  X(CmdBindPipeline)                                                           \
  X(CmdBindDescriptorSets)                                                     \
  X(CmdDispatch)                                                               \
  X(CmdPipelineBarrier)                                                        \
  X(CmdCopyBuffer)                                                             \
  X(QueueSubmit)                                                               \
  X(QueueWaitIdle)

std::string vkError(const char *what, VkResult r) {
  return std::string(what) + " failed (VkResult " + std::to_string(r) + ")";
}

constexpr uint64_t kStagingBytes = 64ull << 20;
constexpr uint32_t kMaxSetsPerSubmit = 4096;
constexpr uint32_t kMaxBuffersPerKernel = 16;

} // namespace

struct Buffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  uint64_t bytes = 0;
  void *mapped = nullptr; // device memory the host can see (lavapipe, UMA)
};

struct Pipeline {
  VkDescriptorSetLayout setLayout = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkPipeline pipeline = VK_NULL_HANDLE;
  unsigned numBuffers = 0;
};

struct Device::Impl {
  void *library = nullptr;
  PFN_vkGetInstanceProcAddr getInstanceProcAddr = nullptr;
#define X(name) PFN_vk##name name = nullptr;
  GEMMAC_VK_INSTANCE_FNS(X)
  GEMMAC_VK_DEVICE_FNS(X)
#undef X
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t queueFamily = 0;
  VkPhysicalDeviceMemoryProperties memory{};
  std::string name;
  uint64_t offsetAlignment = 256, maxRange = 0;
  VkShaderModule module = VK_NULL_HANDLE;
  std::map<std::string, Pipeline> pipelines;
  VkDescriptorPool pool = VK_NULL_HANDLE;
  VkCommandPool commandPool = VK_NULL_HANDLE;
  VkCommandBuffer commands = VK_NULL_HANDLE;
  Buffer *staging = nullptr;
  bool recording = false;

  ~Impl() {
    if (device) {
      QueueWaitIdle(queue);
      for (auto &[n, p] : pipelines) {
        DestroyPipeline(device, p.pipeline, nullptr);
        DestroyPipelineLayout(device, p.layout, nullptr);
        DestroyDescriptorSetLayout(device, p.setLayout, nullptr);
      }
      if (staging)
        freeBuffer(staging);
      if (module)
        DestroyShaderModule(device, module, nullptr);
      if (pool)
        DestroyDescriptorPool(device, pool, nullptr);
      if (commandPool)
        DestroyCommandPool(device, commandPool, nullptr);
      DestroyDevice(device, nullptr);
    }
    if (instance)
      DestroyInstance(instance, nullptr);
    if (library)
      dlclose(library);
  }

  int memoryType(uint32_t allowed, VkMemoryPropertyFlags want) const {
    for (uint32_t i = 0; i < memory.memoryTypeCount; ++i)
      if ((allowed & (1u << i)) &&
          (memory.memoryTypes[i].propertyFlags & want) == want)
        return static_cast<int>(i);
    return -1;
  }

  Buffer *allocBuffer(uint64_t bytes, bool hostVisible, std::string &error) {
    auto *b = new Buffer;
    b->bytes = bytes;
    VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    info.size = std::max<uint64_t>(bytes, 4);
    info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                 VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VkResult r = CreateBuffer(device, &info, nullptr, &b->buffer);
    if (r != VK_SUCCESS) {
      error = vkError("vkCreateBuffer", r);
      delete b;
      return nullptr;
    }
    VkMemoryRequirements req;
    GetBufferMemoryRequirements(device, b->buffer, &req);
    const VkMemoryPropertyFlags visible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                          VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int type = -1;
    if (hostVisible) {
      type = memoryType(req.memoryTypeBits, visible);
    } else {
      // Device-local memory the host can map too (lavapipe, integrated
      // GPUs) saves the staging copies; else plain device-local memory.
      type = memoryType(req.memoryTypeBits,
                        visible | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
      if (type < 0)
        type = memoryType(req.memoryTypeBits,
                          VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
      if (type < 0)
        type = memoryType(req.memoryTypeBits, 0);
    }
    if (type < 0) {
      error = "no Vulkan memory type fits a storage buffer";
      freeBuffer(b);
      return nullptr;
    }
    VkMemoryAllocateInfo alloc{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    alloc.allocationSize = req.size;
    alloc.memoryTypeIndex = static_cast<uint32_t>(type);
    r = AllocateMemory(device, &alloc, nullptr, &b->memory);
    if (r != VK_SUCCESS) {
      error = vkError("vkAllocateMemory", r) + " for " +
              std::to_string(bytes) + " bytes";
      freeBuffer(b);
      return nullptr;
    }
    BindBufferMemory(device, b->buffer, b->memory, 0);
    if ((memory.memoryTypes[type].propertyFlags & visible) == visible) {
      r = MapMemory(device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped);
      if (r != VK_SUCCESS)
        b->mapped = nullptr;
    }
    return b;
  }

  void freeBuffer(Buffer *b) {
    if (b->mapped)
      UnmapMemory(device, b->memory);
    if (b->buffer)
      DestroyBuffer(device, b->buffer, nullptr);
    if (b->memory)
      FreeMemory(device, b->memory, nullptr);
    delete b;
  }

  /// Runs `record` in a one-shot command buffer and waits for it.
  template <typename F> bool oneShot(F &&record, std::string &error) {
    if (!beginCommands(error))
      return false;
    record(commands);
    return submitCommands(error);
  }

  bool beginCommands(std::string &error) {
    ResetCommandBuffer(commands, 0);
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VkResult r = BeginCommandBuffer(commands, &begin);
    if (r != VK_SUCCESS) {
      error = vkError("vkBeginCommandBuffer", r);
      return false;
    }
    return true;
  }

  bool submitCommands(std::string &error) {
    VkResult r = EndCommandBuffer(commands);
    if (r != VK_SUCCESS) {
      error = vkError("vkEndCommandBuffer", r);
      return false;
    }
    VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &commands;
    r = QueueSubmit(queue, 1, &submit, VK_NULL_HANDLE);
    if (r == VK_SUCCESS)
      r = QueueWaitIdle(queue);
    if (r != VK_SUCCESS) {
      error = vkError("vkQueueSubmit", r);
      return false;
    }
    return true;
  }
};

Device::Device(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
Device::~Device() = default;

const std::string &Device::name() const { return impl->name; }

std::unique_ptr<Device> Device::open(int index, std::string &error) {
  auto d = std::make_unique<Impl>();
  d->library = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!d->library)
    d->library = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
  if (!d->library) {
    error = "cannot open the Vulkan loader (libvulkan.so.1): install a "
            "Vulkan driver (Debian: mesa-vulkan-drivers libvulkan1)";
    return nullptr;
  }
  d->getInstanceProcAddr = reinterpret_cast<PFN_vkGetInstanceProcAddr>(
      dlsym(d->library, "vkGetInstanceProcAddr"));
  if (!d->getInstanceProcAddr) {
    error = "the Vulkan loader has no vkGetInstanceProcAddr";
    return nullptr;
  }
  auto createInstance = reinterpret_cast<PFN_vkCreateInstance>(
      d->getInstanceProcAddr(VK_NULL_HANDLE, "vkCreateInstance"));
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "gemmac";
  app.apiVersion = VK_API_VERSION_1_3;
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ici.pApplicationInfo = &app;
  VkResult r = createInstance ? createInstance(&ici, nullptr, &d->instance)
                              : VK_ERROR_INITIALIZATION_FAILED;
  if (r != VK_SUCCESS) {
    error = vkError("vkCreateInstance", r) + ": no Vulkan 1.2 driver";
    return nullptr;
  }
#define X(name)                                                                \
  d->name = reinterpret_cast<PFN_vk##name>(                                    \
      d->getInstanceProcAddr(d->instance, "vk" #name));                        \
  if (!d->name) {                                                              \
    error = "the Vulkan loader lacks vk" #name;                                \
    return nullptr;                                                            \
  }
  GEMMAC_VK_INSTANCE_FNS(X)
#undef X

  uint32_t count = 0;
  d->EnumeratePhysicalDevices(d->instance, &count, nullptr);
  std::vector<VkPhysicalDevice> devices(count);
  d->EnumeratePhysicalDevices(d->instance, &count, devices.data());
  // Devices able to run the kernels, in the loader's order.
  std::vector<std::pair<VkPhysicalDevice, uint32_t>> usable;
  std::string rejected;
  for (VkPhysicalDevice pd : devices) {
    VkPhysicalDeviceProperties props;
    d->GetPhysicalDeviceProperties(pd, &props);
    // Vulkan 1.3 features are only defined for 1.3 devices.
    const bool v13 = props.apiVersion >= VK_API_VERSION_1_3;
    VkPhysicalDeviceVulkan13Features f13{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
    VkPhysicalDeviceVulkan12Features f12{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    f12.pNext = v13 ? &f13 : nullptr;
    VkPhysicalDeviceVulkan11Features f11{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    f11.pNext = &f12;
    VkPhysicalDeviceFeatures2 f{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    f.pNext = &f11;
    d->GetPhysicalDeviceFeatures2(pd, &f);
    bool ok = v13 && f11.storageBuffer16BitAccess &&
              f12.storageBuffer8BitAccess && f12.shaderInt8 &&
              f12.shaderFloat16 && f.features.shaderInt16 &&
              f.features.shaderFloat64 && f13.shaderIntegerDotProduct;
    uint32_t families = 0;
    d->GetPhysicalDeviceQueueFamilyProperties(pd, &families, nullptr);
    std::vector<VkQueueFamilyProperties> qf(families);
    d->GetPhysicalDeviceQueueFamilyProperties(pd, &families, qf.data());
    uint32_t compute = UINT32_MAX;
    for (uint32_t i = 0; i < families; ++i)
      if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
        compute = i;
        break;
      }
    if (ok && compute != UINT32_MAX)
      usable.push_back({pd, compute});
    else
      rejected += std::string(" ") + props.deviceName;
  }
  if (index < 0 || static_cast<size_t>(index) >= usable.size()) {
    error = "no Vulkan device " + std::to_string(index) + " (" +
            std::to_string(usable.size()) +
            " usable: Vulkan 1.3 with 8/16-bit storage, int8, float16, "
            "float64 and integer dot products" +
            (rejected.empty() ? "" : "; lacking them:" + rejected) + ")";
    return nullptr;
  }
  d->physical = usable[index].first;
  d->queueFamily = usable[index].second;
  VkPhysicalDeviceProperties props;
  d->GetPhysicalDeviceProperties(d->physical, &props);
  d->name = props.deviceName;
  d->offsetAlignment = props.limits.minStorageBufferOffsetAlignment;
  d->maxRange = props.limits.maxStorageBufferRange;
  d->GetPhysicalDeviceMemoryProperties(d->physical, &d->memory);

  float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = d->queueFamily;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  VkPhysicalDeviceVulkan13Features e13{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  e13.shaderIntegerDotProduct = VK_TRUE; // OpSDot in the quantized matvecs
  VkPhysicalDeviceVulkan12Features e12{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  e12.pNext = &e13;
  e12.storageBuffer8BitAccess = VK_TRUE;
  e12.shaderInt8 = VK_TRUE;
  e12.shaderFloat16 = VK_TRUE;
  VkPhysicalDeviceVulkan11Features e11{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  e11.storageBuffer16BitAccess = VK_TRUE;
  e11.pNext = &e12;
  VkPhysicalDeviceFeatures2 enable{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  enable.features.shaderInt16 = VK_TRUE;
  enable.features.shaderFloat64 = VK_TRUE; // sums llama.cpp does in double
  enable.pNext = &e11;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.pNext = &enable;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  r = d->CreateDevice(d->physical, &dci, nullptr, &d->device);
  if (r != VK_SUCCESS) {
    error = vkError("vkCreateDevice", r) + " on " + d->name;
    return nullptr;
  }
#define X(name)                                                                \
  d->name = reinterpret_cast<PFN_vk##name>(                                    \
      d->GetDeviceProcAddr(d->device, "vk" #name));                            \
  if (!d->name) {                                                              \
    error = "the Vulkan driver lacks vk" #name;                                \
    return nullptr;                                                            \
  }
  GEMMAC_VK_DEVICE_FNS(X)
#undef X
  d->GetDeviceQueue(d->device, d->queueFamily, 0, &d->queue);

  VkCommandPoolCreateInfo cpi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  cpi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  cpi.queueFamilyIndex = d->queueFamily;
  r = d->CreateCommandPool(d->device, &cpi, nullptr, &d->commandPool);
  if (r != VK_SUCCESS) {
    error = vkError("vkCreateCommandPool", r);
    return nullptr;
  }
  VkCommandBufferAllocateInfo cba{
      VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  cba.commandPool = d->commandPool;
  cba.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cba.commandBufferCount = 1;
  r = d->AllocateCommandBuffers(d->device, &cba, &d->commands);
  if (r != VK_SUCCESS) {
    error = vkError("vkAllocateCommandBuffers", r);
    return nullptr;
  }
  VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                            kMaxSetsPerSubmit * kMaxBuffersPerKernel};
  VkDescriptorPoolCreateInfo dpi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  dpi.maxSets = kMaxSetsPerSubmit;
  dpi.poolSizeCount = 1;
  dpi.pPoolSizes = &size;
  r = d->CreateDescriptorPool(d->device, &dpi, nullptr, &d->pool);
  if (r != VK_SUCCESS) {
    error = vkError("vkCreateDescriptorPool", r);
    return nullptr;
  }
  d->staging = d->allocBuffer(kStagingBytes, /*hostVisible=*/true, error);
  if (!d->staging || !d->staging->mapped) {
    error = "no host-visible Vulkan memory for staging copies";
    return nullptr;
  }
  return std::unique_ptr<Device>(new Device(std::move(d)));
}

Buffer *Device::createBuffer(uint64_t bytes, std::string &error,
                             bool hostVisible) {
  return impl->allocBuffer(bytes, hostVisible, error);
}

uint64_t Device::storageOffsetAlignment() const {
  return impl->offsetAlignment;
}
uint64_t Device::maxStorageRange() const { return impl->maxRange; }

void Device::destroyBuffer(Buffer *buffer) {
  if (buffer) {
    impl->QueueWaitIdle(impl->queue);
    impl->freeBuffer(buffer);
  }
}

bool Device::upload(Buffer *buffer, uint64_t offset, const void *data,
                    uint64_t bytes, std::string &error) {
  if (offset + bytes > buffer->bytes) {
    error = "upload past the end of a Vulkan buffer";
    return false;
  }
  if (buffer->mapped) {
    std::memcpy(static_cast<char *>(buffer->mapped) + offset, data, bytes);
    return true;
  }
  for (uint64_t done = 0; done < bytes; done += kStagingBytes) {
    uint64_t n = std::min(kStagingBytes, bytes - done);
    std::memcpy(impl->staging->mapped, static_cast<const char *>(data) + done,
                n);
    VkBufferCopy copy{0, offset + done, n};
    if (!impl->oneShot(
            [&](VkCommandBuffer cb) {
              impl->CmdCopyBuffer(cb, impl->staging->buffer, buffer->buffer, 1,
                                  &copy);
            },
            error))
      return false;
  }
  return true;
}

bool Device::download(Buffer *buffer, uint64_t offset, void *data,
                      uint64_t bytes, std::string &error) {
  if (offset + bytes > buffer->bytes) {
    error = "download past the end of a Vulkan buffer";
    return false;
  }
  if (buffer->mapped) {
    std::memcpy(data, static_cast<const char *>(buffer->mapped) + offset, bytes);
    return true;
  }
  for (uint64_t done = 0; done < bytes; done += kStagingBytes) {
    uint64_t n = std::min(kStagingBytes, bytes - done);
    VkBufferCopy copy{offset + done, 0, n};
    if (!impl->oneShot(
            [&](VkCommandBuffer cb) {
              impl->CmdCopyBuffer(cb, buffer->buffer, impl->staging->buffer, 1,
                                  &copy);
            },
            error))
      return false;
    std::memcpy(static_cast<char *>(data) + done, impl->staging->mapped, n);
  }
  return true;
}

bool Device::loadModule(const uint32_t *words, size_t count,
                        std::string &error) {
  if (count < 5 || words[0] != 0x07230203u) {
    error = "not a SPIR-V module (bad magic number)";
    return false;
  }
  VkShaderModuleCreateInfo info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  info.codeSize = count * 4;
  info.pCode = words;
  VkResult r =
      impl->CreateShaderModule(impl->device, &info, nullptr, &impl->module);
  if (r != VK_SUCCESS) {
    error = vkError("vkCreateShaderModule", r);
    return false;
  }
  return true;
}

Pipeline *Device::pipeline(const std::string &name, unsigned numBuffers,
                           std::string &error) {
  auto it = impl->pipelines.find(name);
  if (it != impl->pipelines.end())
    return &it->second;
  if (!impl->module || numBuffers > kMaxBuffersPerKernel) {
    error = impl->module ? "too many buffers for kernel " + name
                         : "no SPIR-V module loaded";
    return nullptr;
  }
  Pipeline p;
  p.numBuffers = numBuffers;
  std::vector<VkDescriptorSetLayoutBinding> bindings(numBuffers);
  for (unsigned i = 0; i < numBuffers; ++i)
    bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                   VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo sli{
      VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  sli.bindingCount = numBuffers;
  sli.pBindings = bindings.data();
  VkResult r = impl->CreateDescriptorSetLayout(impl->device, &sli, nullptr,
                                               &p.setLayout);
  VkPipelineLayoutCreateInfo pli{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pli.setLayoutCount = 1;
  pli.pSetLayouts = &p.setLayout;
  if (r == VK_SUCCESS)
    r = impl->CreatePipelineLayout(impl->device, &pli, nullptr, &p.layout);
  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = impl->module;
  ci.stage.pName = name.c_str();
  ci.layout = p.layout;
  if (r == VK_SUCCESS)
    r = impl->CreateComputePipelines(impl->device, VK_NULL_HANDLE, 1, &ci,
                                     nullptr, &p.pipeline);
  if (r != VK_SUCCESS) {
    error = vkError("creating the pipeline of kernel", r) + ": " + name;
    if (p.layout)
      impl->DestroyPipelineLayout(impl->device, p.layout, nullptr);
    if (p.setLayout)
      impl->DestroyDescriptorSetLayout(impl->device, p.setLayout, nullptr);
    return nullptr;
  }
  return &(impl->pipelines[name] = p);
}

bool Device::begin(std::string &error) {
  impl->ResetDescriptorPool(impl->device, impl->pool, 0);
  if (!impl->beginCommands(error))
    return false;
  impl->recording = true;
  return true;
}

bool Device::dispatch(Pipeline *p, const std::vector<Binding> &bindings,
                      uint32_t gx, uint32_t gy, uint32_t gz,
                      std::string &error) {
  if (!impl->recording || bindings.size() != p->numBuffers) {
    error = impl->recording ? "kernel argument count mismatch"
                            : "dispatch outside begin/submit";
    return false;
  }
  VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  ai.descriptorPool = impl->pool;
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &p->setLayout;
  VkDescriptorSet set;
  VkResult r = impl->AllocateDescriptorSets(impl->device, &ai, &set);
  if (r != VK_SUCCESS) {
    error = vkError("vkAllocateDescriptorSets", r) +
            " (too many dispatches in one submit)";
    return false;
  }
  std::vector<VkDescriptorBufferInfo> infos(bindings.size());
  std::vector<VkWriteDescriptorSet> writes(bindings.size());
  for (size_t i = 0; i < bindings.size(); ++i) {
    const Binding &b = bindings[i];
    infos[i] = {b.buffer->buffer, b.offset,
                b.size ? b.size : VK_WHOLE_SIZE};
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstSet = set;
    writes[i].dstBinding = static_cast<uint32_t>(i);
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  impl->UpdateDescriptorSets(impl->device, static_cast<uint32_t>(writes.size()),
                             writes.data(), 0, nullptr);
  VkCommandBuffer cb = impl->commands;
  impl->CmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
  impl->CmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0,
                              1, &set, 0, nullptr);
  impl->CmdDispatch(cb, gx, gy, gz);
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  impl->CmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                           VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier,
                           0, nullptr, 0, nullptr);
  return true;
}

bool Device::submit(std::string &error) {
  impl->recording = false;
  return impl->submitCommands(error);
}

std::vector<std::string> Device::entryPoints(const uint32_t *words,
                                             size_t count) {
  std::vector<std::string> names;
  for (size_t i = 5; i < count;) {
    uint32_t length = words[i] >> 16, opcode = words[i] & 0xffff;
    if (length == 0 || i + length > count)
      break;
    if (opcode == 15 && length > 3) { // OpEntryPoint model id "name" ...
      const char *s = reinterpret_cast<const char *>(&words[i + 3]);
      size_t max = (length - 3) * 4;
      names.emplace_back(s, strnlen(s, max));
    }
    i += length;
  }
  return names;
}

} // namespace gemmac::vk
