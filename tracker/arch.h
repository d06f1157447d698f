/* What the tracker needs to know of the processor: the system call instruction, the spin-wait hint, the stack's
 * red zone, the relocation types of an import slot, the general registers a stopped thread's state holds, the
 * thread pointer.
 * x86-64 Linux only. */
#ifndef LW_ARCH_H
#define LW_ARCH_H

#if !defined(__x86_64__) || !defined(__linux__)
#error "leakwatch supports x86-64 Linux only: tracker/arch.h names what another architecture must provide"
#endif

#include <elf.h>
#include <stdint.h>

/* The ABI lets a function keep 128 bytes below its stack pointer without moving it: a thread stopped in such a
 * function has live words there. */
#define LW_RED_ZONE 128

/* A hint to the processor inside a spin-wait loop. */
#define LW_CPU_RELAX() __builtin_ia32_pause()

/* Relocations that fill an import slot of a shared object with a function's address. */
#define LW_R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define LW_R_GLOB_DAT R_X86_64_GLOB_DAT
#define LW_R_TYPE(info) ELF64_R_TYPE(info)
#define LW_R_SYM(info) ELF64_R_SYM(info)

/* One system call as the kernel takes it, six arguments whatever the call reads: the result, or -errno (a value
 * in [-4095, -1]). */
static inline long lw_arch_syscall6(long nr, const long a[6])
{
    register long r10 __asm__("r10") = a[3];
    register long r8 __asm__("r8") = a[4];
    register long r9 __asm__("r9") = a[5];
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* The thread pointer of the calling thread: the address of its thread control block, which begins with a
 * pointer to itself (the TLS ABI's variant II: the static TLS blocks lie below it). */
static inline uintptr_t lw_arch_thread_pointer(void)
{
    uintptr_t tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp));
    return tp;
}

/* Whether a thread control block begins at p: its first word and its third (`self`) point to p. */
#define LW_TCB_AT(p) (((const uintptr_t *)(p))[0] == (uintptr_t)(p) && ((const uintptr_t *)(p))[2] == (uintptr_t)(p))

/* The stack pointer in the general registers ptrace returns (struct user_regs_struct). */
#define LW_REGS_SP(regs) ((regs)->rsp)

#endif
