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
//   gpu <i> fail <field|all> <code>  a field (or every call) answers this code
//   gpu <i> hang <seconds>           every call for GPU i sleeps this long first
//
// A field the scenario does not set answers NOT_SUPPORTED. Built with -DWITHOUT_ENERGY, the
// library lacks nvmlDeviceGetTotalEnergyConsumption, as an old driver does.
// fake_nvml_calls(name) tells a test how often a function was called.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_GPUS 8
#define NOT_SUPPORTED 3

enum field { F_UTILIZATION, F_MEMORY, F_POWER, F_LIMIT, F_ENERGY, F_TEMPERATURE, F_COUNT };
static const char *field_names[F_COUNT] = {"utilization", "memory", "power", "limit", "energy", "temperature"};

struct gpu {
    int handle_code, hang_seconds, fail_all;
    char uuid[96], name[96];
    int has[F_COUNT], fail[F_COUNT];
    unsigned long long values[F_COUNT][2];
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

// A device handle is the address of its scenario slot's index.
static unsigned int handles[MAX_GPUS] = {0, 1, 2, 3, 4, 5, 6, 7};

static struct gpu *device(void *handle, int *code) {
    unsigned int index = *(unsigned int *)handle;
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
    if (code == 0) { snprintf(uuid, length, "%s", gpu->uuid); }
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
