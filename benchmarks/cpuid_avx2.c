/* Make a process and its children see an AVX2-only x86 CPU (no AVX-512, no AVX-VNNI).
 *
 * Loaded with LD_PRELOAD by benchmarks/avx2.py. Linux's CPUID faulting
 * (arch_prctl ARCH_SET_CPUID, the "cpuid_fault" flag) makes every CPUID instruction
 * trap; the handler runs the real CPUID and clears the AVX-512, AMX and VNNI bits
 * before the caller sees them. Libraries that pick kernels by CPUID (ONNX Runtime's
 * MLAS, oneDNN, fbgemm, torch's ATen dispatch) then take their AVX2 paths, the only
 * ones a Zen 3 or a Haswell-Skylake client CPU has. CPUID runs only while libraries
 * start (tens of times), so the trap costs nothing measurable. glibc reads CPUID
 * before this library loads: avx2.py masks it with GLIBC_TUNABLES instead.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define ARCH_SET_CPUID 0x1012

static long cpuid_enabled(int on) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, on); }

/* Leaf 7, sub-leaf 0: EBX avx512f dq ifma pf er cd bw vl; ECX avx512vbmi vbmi2 vnni
 * bitalg vpopcntdq; EDX 4vnniw 4fmaps vp2intersect amx-bf16 avx512fp16 amx-tile amx-int8.
 * Sub-leaf 1: EAX avx-vnni, avx512_bf16. */
#define B(n) (1u << (n))
static const uint32_t L7_EBX = B(16) | B(17) | B(21) | B(26) | B(27) | B(28) | B(30) | B(31);
static const uint32_t L7_ECX = B(1) | B(6) | B(11) | B(12) | B(14);
static const uint32_t L7_EDX = B(2) | B(3) | B(8) | B(22) | B(23) | B(24) | B(25);
static const uint32_t L7S1_EAX = B(4) | B(5);

static void on_sigsegv(int sig, siginfo_t *info, void *context) {
    (void)info;
    ucontext_t *uc = context;
    greg_t *r = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)r[REG_RIP];
    if (ip[0] != 0x0f || ip[1] != 0xa2) { /* a real fault: let it crash as usual */
        signal(sig, SIG_DFL);
        return;
    }
    unsigned leaf = (unsigned)r[REG_RAX], sub = (unsigned)r[REG_RCX], a, b, c, d;
    cpuid_enabled(1);
    __cpuid_count(leaf, sub, a, b, c, d);
    cpuid_enabled(0);
    if (leaf == 7 && sub == 0) {
        b &= ~L7_EBX;
        c &= ~L7_ECX;
        d &= ~L7_EDX;
    } else if (leaf == 7 && sub == 1) {
        a &= ~L7S1_EAX;
    }
    r[REG_RAX] = a;
    r[REG_RBX] = b;
    r[REG_RCX] = c;
    r[REG_RDX] = d;
    r[REG_RIP] += 2; /* CPUID is 0F A2 */
}

__attribute__((constructor)) static void start(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsegv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) == 0)
        cpuid_enabled(0); /* threads made later inherit it; execve clears it */
}
