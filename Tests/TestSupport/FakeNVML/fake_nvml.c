// A stand-in for NVIDIA's libnvidia-ml.so, built by the test suite and loaded through the same
// dlopen path as the real one. It answers from a scenario file named by FAKE_NVML_SCENARIO (or,
// without it, by FAKE_NVML_DEFAULT_SCENARIO given when it is compiled: a test process that
// spawns others must not setenv while they start), read again on every call so that a test can
// change the GPUs mid-run:
//
//   init <code>                      nvmlInit_v2's answer (default 0, success)
//   driver <version>
//   count <n>                        GPUs nvmlDeviceGetCount_v2 reports
//   gpu <i> handle <code>            nvmlDeviceGetHandleByIndex_v2's answer for GPU i
//   gpu <i> uuid <text>  |  gpu <i> name <text to the end of the line>
//   gpu <i> utilization <gpu %> <memory %>  |  memory <total> <used>  |  power <mW>
//   gpu <i> limit <mW>  |  energy <mJ>  |  temperature <°C>
//   gpu <i> fail <field|all> <code>  a field (or every call) answers this code; fields also
//                                    processes, process_util, mig
//   gpu <i> hang <seconds>           every call for GPU i sleeps this long first
//   gpu <i> process <pid> <bytes> [<gpu instance> <compute instance>]   a compute process
//   gpu <i> process_util <pid> <sm %> <memory %> <timestamp µs>         a utilisation sample
//   gpu <i> mig_mode <0|1>           MIG mode (without it, nvmlDeviceGetMigMode is unsupported)
//   gpu <i> mig <slot> <gpu instance> <uuid> <total bytes> <used bytes>  a MIG instance
//
// A field the scenario does not set answers NOT_SUPPORTED. Built with -DWITHOUT_ENERGY, the
// library lacks nvmlDeviceGetTotalEnergyConsumption, as an old driver does.
// fake_nvml_calls(name) tells a test how often a function was called.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_GPUS 8
#define MAX_PROCESSES 16
#define MAX_MIG 7
#define NOT_SUPPORTED 3
#define NOT_FOUND 6
#define INSUFFICIENT_SIZE 7

enum field { F_UTILIZATION, F_MEMORY, F_POWER, F_LIMIT, F_ENERGY, F_TEMPERATURE, F_PROCESSES, F_PROCESS_UTIL, F_MIG, F_COUNT };
static const char *field_names[F_COUNT] = {"utilization", "memory", "power", "limit", "energy", "temperature",
                                           "processes", "process_util", "mig"};

// NVML's nvmlProcessInfo_t (v2 and v3) and nvmlProcessUtilizationSample_t.
typedef struct { unsigned int pid; unsigned long long usedGpuMemory; unsigned int gpuInstanceId, computeInstanceId; } process_info;
typedef struct { unsigned int pid; unsigned long long timeStamp; unsigned int smUtil, memUtil, encUtil, decUtil; } process_sample;

struct mig { int present; unsigned int gpu_instance; char uuid[96]; unsigned long long total, used; };

struct gpu {
    int handle_code, hang_seconds, fail_all;
    char uuid[96], name[96];
    int has[F_COUNT], fail[F_COUNT];
    unsigned long long values[F_COUNT][2];
    unsigned int process_count, sample_count;
    process_info processes[MAX_PROCESSES];
    process_sample samples[MAX_PROCESSES];
    int has_mig_mode;
    unsigned int mig_mode;
    struct mig migs[MAX_MIG];
};

static struct {
    int init_code;
    unsigned int count;
    char driver[80];
    struct gpu gpus[MAX_GPUS];
} scenario;

static struct { const char *name; int calls; } counters[32];

static void count_call(const char *name) {
    for (int i = 0; i < 32; i++) {
        if (counters[i].name == NULL) { counters[i].name = name; }
        if (strcmp(counters[i].name, name) == 0) { counters[i].calls++; return; }
    }
}

int fake_nvml_calls(const char *name) {
    for (int i = 0; i < 32 && counters[i].name != NULL; i++) {
        if (strcmp(counters[i].name, name) == 0) { return counters[i].calls; }
    }
    return 0;
}

static int field_index(const char *name) {
    for (int f = 0; f < F_COUNT; f++) { if (strcmp(field_names[f], name) == 0) { return f; } }
    return -1;
}

static void load(void) {
    memset(&scenario, 0, sizeof scenario);
    const char *path = getenv("FAKE_NVML_SCENARIO");
#ifdef FAKE_NVML_DEFAULT_SCENARIO
    if (path == NULL) { path = FAKE_NVML_DEFAULT_SCENARIO; }
#endif
    FILE *file = path ? fopen(path, "r") : NULL;
    if (file == NULL) { return; }
    char line[256];
    while (fgets(line, sizeof line, file)) {
        line[strcspn(line, "\n")] = 0;
        unsigned int index;
        char key[32], rest[160];
        if (sscanf(line, "init %d", &scenario.init_code) == 1) { continue; }
        if (sscanf(line, "count %u", &scenario.count) == 1) { continue; }
        if (sscanf(line, "driver %79s", scenario.driver) == 1) { continue; }
        if (sscanf(line, "gpu %u %31s %159[^\n]", &index, key, rest) != 3 || index >= MAX_GPUS) { continue; }
        struct gpu *gpu = &scenario.gpus[index];
        int f = field_index(key);
        if (strcmp(key, "handle") == 0) { gpu->handle_code = atoi(rest); }
        else if (strcmp(key, "hang") == 0) { gpu->hang_seconds = atoi(rest); }
        else if (strcmp(key, "uuid") == 0) { snprintf(gpu->uuid, sizeof gpu->uuid, "%s", rest); }
        else if (strcmp(key, "name") == 0) { snprintf(gpu->name, sizeof gpu->name, "%s", rest); }
        else if (strcmp(key, "process") == 0 && gpu->process_count < MAX_PROCESSES) {
            process_info *p = &gpu->processes[gpu->process_count];
            p->gpuInstanceId = p->computeInstanceId = 0xFFFFFFFF;  // NVML's "not in a MIG instance"
            if (sscanf(rest, "%u %llu %u %u", &p->pid, &p->usedGpuMemory, &p->gpuInstanceId, &p->computeInstanceId) >= 2) { gpu->process_count++; }
        } else if (strcmp(key, "process_util") == 0 && gpu->sample_count < MAX_PROCESSES) {
            process_sample *p = &gpu->samples[gpu->sample_count];
            if (sscanf(rest, "%u %u %u %llu", &p->pid, &p->smUtil, &p->memUtil, &p->timeStamp) == 4) { gpu->sample_count++; }
        } else if (strcmp(key, "mig_mode") == 0) {
            gpu->has_mig_mode = sscanf(rest, "%u", &gpu->mig_mode) == 1;
        } else if (strcmp(key, "mig") == 0) {
            unsigned int slot;
            struct mig m = {1};
            if (sscanf(rest, "%u %u %95s %llu %llu", &slot, &m.gpu_instance, m.uuid, &m.total, &m.used) == 5 && slot < MAX_MIG) { gpu->migs[slot] = m; }
        }
        else if (strcmp(key, "fail") == 0) {
            char which[32];
            int code;
            if (sscanf(rest, "%31s %d", which, &code) == 2) {
                if (strcmp(which, "all") == 0) { gpu->fail_all = code; }
                else if (field_index(which) >= 0) { gpu->fail[field_index(which)] = code; }
            }
        } else if (f >= 0) {
            gpu->has[f] = sscanf(rest, "%llu %llu", &gpu->values[f][0], &gpu->values[f][1]) >= 1;
        }
    }
    fclose(file);
}

// A device handle is the address of its scenario slot's index; a MIG device's, of
// MIG_BASE + GPU × MAX_MIG + slot.
#define MIG_BASE 100
static unsigned int handles[MAX_GPUS] = {0, 1, 2, 3, 4, 5, 6, 7};
static unsigned int mig_handles[MAX_GPUS * MAX_MIG];

// The MIG instance a handle names; NULL for a whole GPU.
static struct mig *mig_of(void *handle) {
    unsigned int index = *(unsigned int *)handle;
    if (index < MIG_BASE) { return NULL; }
    index -= MIG_BASE;
    return &scenario.gpus[index / MAX_MIG].migs[index % MAX_MIG];
}

static struct gpu *device(void *handle, int *code) {
    unsigned int index = *(unsigned int *)handle;
    if (index >= MIG_BASE) { index = (index - MIG_BASE) / MAX_MIG; }
    struct gpu *gpu = &scenario.gpus[index];
    if (gpu->hang_seconds > 0) { sleep((unsigned int)gpu->hang_seconds); }
    *code = gpu->fail_all;
    return gpu;
}

static int get(void *handle, enum field f, unsigned long long out[2]) {
    load();
    int code;
    struct gpu *gpu = device(handle, &code);
    if (code != 0) { return code; }
    if (gpu->fail[f] != 0) { return gpu->fail[f]; }
    if (!gpu->has[f]) { return NOT_SUPPORTED; }
    out[0] = gpu->values[f][0];
    out[1] = gpu->values[f][1];
    return 0;
}

int nvmlInit_v2(void) { count_call("nvmlInit_v2"); load(); return scenario.init_code; }
int nvmlShutdown(void) { return 0; }
const char *nvmlErrorString(int code) { return code == NOT_SUPPORTED ? "Not Supported" : "Fake NVML error"; }

int nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    load();
    snprintf(version, length, "%s", scenario.driver);
    return 0;
}

int nvmlDeviceGetCount_v2(unsigned int *count) { load(); *count = scenario.count; return 0; }

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **handle) {
    count_call("nvmlDeviceGetHandleByIndex_v2");
    load();
    if (index >= scenario.count || index >= MAX_GPUS) { return 2; }
    if (scenario.gpus[index].handle_code != 0) { return scenario.gpus[index].handle_code; }
    *handle = &handles[index];
    return 0;
}

int nvmlDeviceGetUUID(void *handle, char *uuid, unsigned int length) {
    load();
    int code;
    struct gpu *gpu = device(handle, &code);
    if (code == 0) { snprintf(uuid, length, "%s", mig_of(handle) ? mig_of(handle)->uuid : gpu->uuid); }
    return code;
}

int nvmlDeviceGetName(void *handle, char *name, unsigned int length) {
    load();
    int code;
    struct gpu *gpu = device(handle, &code);
    if (code == 0) { snprintf(name, length, "%s", gpu->name); }
    return code;
}

int nvmlDeviceGetUtilizationRates(void *handle, unsigned int rates[2]) {
    count_call("nvmlDeviceGetUtilizationRates");
    unsigned long long values[2];
    int code = get(handle, F_UTILIZATION, values);
    if (code == 0) { rates[0] = (unsigned int)values[0]; rates[1] = (unsigned int)values[1]; }
    return code;
}

int nvmlDeviceGetMemoryInfo(void *handle, unsigned long long memory[3]) {
    unsigned long long values[2];
    struct mig *mig = (load(), mig_of(handle));
    if (mig) { memory[0] = mig->total; memory[1] = mig->total - mig->used; memory[2] = mig->used; return 0; }
    int code = get(handle, F_MEMORY, values);
    if (code == 0) { memory[0] = values[0]; memory[1] = values[0] - values[1]; memory[2] = values[1]; }
    return code;
}

static int get_uint(void *handle, enum field f, unsigned int *out) {
    unsigned long long values[2];
    int code = get(handle, f, values);
    if (code == 0) { *out = (unsigned int)values[0]; }
    return code;
}

int nvmlDeviceGetPowerUsage(void *handle, unsigned int *milliwatts) { return get_uint(handle, F_POWER, milliwatts); }
int nvmlDeviceGetEnforcedPowerLimit(void *handle, unsigned int *milliwatts) { return get_uint(handle, F_LIMIT, milliwatts); }

int nvmlDeviceGetTemperature(void *handle, int sensor, unsigned int *celsius) {
    return sensor == 0 ? get_uint(handle, F_TEMPERATURE, celsius) : 2;
}

#ifndef WITHOUT_ENERGY
int nvmlDeviceGetTotalEnergyConsumption(void *handle, unsigned long long *millijoules) {
    unsigned long long values[2];
    int code = get(handle, F_ENERGY, values);
    if (code == 0) { *millijoules = values[0]; }
    return code;
}
#endif

// The state a call for the processes or MIG needs: the GPU, and a code for a failing or
// unsupported call.
static struct gpu *gpu_for(void *handle, enum field f, int *code) {
    load();
    struct gpu *gpu = device(handle, code);
    if (*code == 0) { *code = gpu->fail[f]; }
    return gpu;
}

// A whole GPU's processes, or a MIG device's: those in its GPU instance.
int nvmlDeviceGetComputeRunningProcesses_v3(void *handle, unsigned int *count, process_info *infos) {
    count_call("nvmlDeviceGetComputeRunningProcesses_v3");
    int code;
    struct gpu *gpu = gpu_for(handle, F_PROCESSES, &code);
    if (code != 0) { return code; }
    struct mig *mig = mig_of(handle);
    process_info found[MAX_PROCESSES];
    unsigned int n = 0;
    for (unsigned int i = 0; i < gpu->process_count; i++) {
        if (mig == NULL || gpu->processes[i].gpuInstanceId == mig->gpu_instance) { found[n++] = gpu->processes[i]; }
    }
    if (infos == NULL || *count < n) { *count = n; return n == 0 ? 0 : INSUFFICIENT_SIZE; }
    memcpy(infos, found, n * sizeof *found);
    *count = n;
    return 0;
}

// Samples newer than last_seen; unsupported in MIG mode, as on real GPUs.
int nvmlDeviceGetProcessUtilization(void *handle, process_sample *samples, unsigned int *count, unsigned long long last_seen) {
    int code;
    struct gpu *gpu = gpu_for(handle, F_PROCESS_UTIL, &code);
    if (code != 0) { return code; }
    if (gpu->mig_mode == 1 || mig_of(handle)) { return NOT_SUPPORTED; }
    process_sample found[MAX_PROCESSES];
    unsigned int n = 0;
    for (unsigned int i = 0; i < gpu->sample_count; i++) {
        if (gpu->samples[i].timeStamp > last_seen) { found[n++] = gpu->samples[i]; }
    }
    if (n == 0) { return NOT_FOUND; }
    if (samples == NULL || *count < n) { *count = n; return INSUFFICIENT_SIZE; }
    memcpy(samples, found, n * sizeof *found);
    *count = n;
    return 0;
}

int nvmlDeviceGetMigMode(void *handle, unsigned int *current, unsigned int *pending) {
    int code;
    struct gpu *gpu = gpu_for(handle, F_MIG, &code);
    if (code != 0) { return code; }
    if (!gpu->has_mig_mode) { return NOT_SUPPORTED; }
    *current = *pending = gpu->mig_mode;
    return 0;
}

int nvmlDeviceGetMaxMigDeviceCount(void *handle, unsigned int *count) {
    int code;
    gpu_for(handle, F_MIG, &code);
    if (code == 0) { *count = MAX_MIG; }
    return code;
}

int nvmlDeviceGetMigDeviceHandleByIndex(void *handle, unsigned int index, void **mig) {
    int code;
    struct gpu *gpu = gpu_for(handle, F_MIG, &code);
    if (code != 0) { return code; }
    if (index >= MAX_MIG) { return 2; }
    if (!gpu->migs[index].present) { return NOT_FOUND; }
    unsigned int gpu_index = *(unsigned int *)handle;
    mig_handles[gpu_index * MAX_MIG + index] = MIG_BASE + gpu_index * MAX_MIG + index;
    *mig = &mig_handles[gpu_index * MAX_MIG + index];
    return 0;
}

int nvmlDeviceGetGpuInstanceId(void *handle, unsigned int *id) {
    load();
    struct mig *mig = mig_of(handle);
    if (mig == NULL) { return 2; }
    *id = mig->gpu_instance;
    return 0;
}
