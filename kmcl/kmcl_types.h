/* kmcl/kmcl_types.h: the Windows base types and NTSTATUS values that the KMCL
 * API (kmcl/vmbkmcl.h) is written in, mapped onto C11 types.
 *
 * KMCL-REFERENCE.md 1.1-1.2 and section (e) "Source-level API": NTSTATUS is a
 * 32-bit signed value, BOOLEAN 8 bits, ULONG 32 bits (LLP64), GUID the usual
 * 16-byte structure, MDL our own structure that keeps the wdm.h field names
 * (Next, Size, MdlFlags, StartVa, ByteCount, ByteOffset) followed by its PFN
 * array, PDEVICE_OBJECT an opaque pointer to our device record (kmcl/bus.h).
 * There is no ms_abi and FASTCALL expands to nothing (section (e)).
 */
#ifndef KMCL_KMCL_TYPES_H
#define KMCL_KMCL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- base types ---------------------------------------------------------- */
typedef int32_t NTSTATUS;
typedef uint8_t BOOLEAN;
typedef uint8_t UINT8;
typedef uint16_t UINT16, *PUINT16;
typedef uint32_t UINT32, *PUINT32;
typedef uint64_t UINT64, *PUINT64;
typedef int16_t CSHORT;
typedef uint16_t USHORT;
typedef uint32_t ULONG, *PULONG;
typedef int32_t LONG;
typedef uint64_t ULONG64;
typedef uint16_t WCHAR, *PWSTR;
typedef void VOID, *PVOID;
typedef void *HANDLE, **PHANDLE;

#define TRUE 1
#define FALSE 0

/* FASTCALL has no effect on x64 (KMCL-REFERENCE.md 1.1). */
#define FASTCALL
#define FORCEINLINE static inline

#define NT_SUCCESS(s) ((NTSTATUS)(s) >= 0)

/* ---- NTSTATUS values (ntstatus.h, KMCL-REFERENCE.md 1.2 and a few more that
 * the implementation returns; each is the standard Windows value) ---------- */
#define KMCL_NTSTATUS(v) ((NTSTATUS)(uint32_t)(v))
#define STATUS_SUCCESS KMCL_NTSTATUS(0x00000000u)
#define STATUS_TIMEOUT KMCL_NTSTATUS(0x00000102u) /* a success code */
#define STATUS_PENDING KMCL_NTSTATUS(0x00000103u)
#define STATUS_BUFFER_OVERFLOW KMCL_NTSTATUS(0x80000005u) /* warning: !NT_SUCCESS */
#define STATUS_UNSUCCESSFUL KMCL_NTSTATUS(0xC0000001u)
#define STATUS_INVALID_HANDLE KMCL_NTSTATUS(0xC0000008u)
#define STATUS_INVALID_PARAMETER KMCL_NTSTATUS(0xC000000Du)
#define STATUS_NO_MEMORY KMCL_NTSTATUS(0xC0000017u)
#define STATUS_MORE_PROCESSING_REQUIRED KMCL_NTSTATUS(0xC0000016u)
#define STATUS_ACCESS_DENIED KMCL_NTSTATUS(0xC0000022u)
#define STATUS_BUFFER_TOO_SMALL KMCL_NTSTATUS(0xC0000023u)
#define STATUS_DATA_ERROR KMCL_NTSTATUS(0xC000003Eu)
#define STATUS_REVISION_MISMATCH KMCL_NTSTATUS(0xC0000059u)
#define STATUS_INSUFFICIENT_RESOURCES KMCL_NTSTATUS(0xC000009Au)
#define STATUS_DEVICE_NOT_CONNECTED KMCL_NTSTATUS(0xC000009Du)
#define STATUS_IO_TIMEOUT KMCL_NTSTATUS(0xC00000B5u)
#define STATUS_NOT_SUPPORTED KMCL_NTSTATUS(0xC00000BBu)
#define STATUS_INVALID_PARAMETER_1 KMCL_NTSTATUS(0xC00000EFu)
#define STATUS_INVALID_PARAMETER_2 KMCL_NTSTATUS(0xC00000F0u)
#define STATUS_INVALID_PARAMETER_3 KMCL_NTSTATUS(0xC00000F1u)
#define STATUS_CANCELLED KMCL_NTSTATUS(0xC0000120u)
#define STATUS_INVALID_DEVICE_STATE KMCL_NTSTATUS(0xC0000184u)
#define STATUS_INVALID_BUFFER_SIZE KMCL_NTSTATUS(0xC0000206u)
#define STATUS_NOT_FOUND KMCL_NTSTATUS(0xC0000225u)
#define STATUS_DEVICE_REMOVED KMCL_NTSTATUS(0xC00002B6u)

/* ---- GUID, strings, LARGE_INTEGER ----------------------------------------- */
typedef struct _GUID {
  uint32_t Data1;
  uint16_t Data2;
  uint16_t Data3;
  uint8_t Data4[8];
} GUID, *LPGUID;
typedef const GUID *LPCGUID;
_Static_assert(sizeof(GUID) == 16, "GUID is 16 bytes");

/** Length and MaximumLength are in bytes, as in Windows. */
typedef struct _UNICODE_STRING {
  USHORT Length;
  USHORT MaximumLength;
  PWSTR Buffer;
} UNICODE_STRING, *PUNICODE_STRING;
typedef const UNICODE_STRING *PCUNICODE_STRING;

typedef union _LARGE_INTEGER {
  struct {
    ULONG LowPart;
    LONG HighPart;
  } u;
  int64_t QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

/* ---- MDL: a virtually contiguous buffer described by its physical pages ---
 * Same header fields as wdm.h (x64); the PFN array follows the header as in
 * Windows (MmGetMdlPfnArray). MDLs chain through Next. StartVa is the
 * page-aligned virtual address of the first page (NULL when the MDL has no
 * mapping, as for MDLs KMCL returns to a server), ByteOffset the offset of
 * the data in that page, ByteCount its length. */
typedef uint64_t PFN_NUMBER, *PPFN_NUMBER;

typedef struct _MDL {
  struct _MDL *Next;
  CSHORT Size; /* bytes of header plus PFN array */
  CSHORT MdlFlags;
  void *Process; /* unused here; kept for field compatibility */
  PVOID MappedSystemVa;
  PVOID StartVa;
  ULONG ByteCount;
  ULONG ByteOffset;
  PFN_NUMBER PfnArray[];
} MDL, *PMDL;
_Static_assert(sizeof(MDL) == 48, "MDL header is 48 bytes on x64 (wdm.h)");

#define KMCL_MDL_PAGE_SIZE 4096u
/** Pages spanned by `len` bytes starting `va`'s offset into its page. */
#define ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, len)                                                    \
  ((uint32_t)((((uintptr_t)(va) & (KMCL_MDL_PAGE_SIZE - 1)) + (uint64_t)(len) +                    \
               KMCL_MDL_PAGE_SIZE - 1) /                                                           \
              KMCL_MDL_PAGE_SIZE))
static inline PPFN_NUMBER MmGetMdlPfnArray(PMDL m) { return m->PfnArray; }
static inline ULONG MmGetMdlByteCount(const MDL *m) { return m->ByteCount; }
static inline ULONG MmGetMdlByteOffset(const MDL *m) { return m->ByteOffset; }
/** Number of PFNs an MDL holds. */
static inline uint32_t kmcl_mdl_page_count(const MDL *m) {
  return ADDRESS_AND_SIZE_TO_SPAN_PAGES(m->ByteOffset, m->ByteCount);
}

/* ---- opaque objects ------------------------------------------------------- */
/** Our device record (kmcl/bus.h): it names the bus a channel lives on. */
typedef struct _DEVICE_OBJECT DEVICE_OBJECT, *PDEVICE_OBJECT;

#endif
