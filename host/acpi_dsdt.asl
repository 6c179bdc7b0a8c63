/*
 * host/acpi_dsdt.asl: the DSDT hvhost puts in guest memory (host/acpi_fw.c).
 * Built by Debian's iasl (acpica-tools) at build time (Makefile); the AML is
 * embedded in hvhost, never written by hand.
 *
 * Laid out as Hyper-V Gen1 firmware does it: a PIIX4-style machine with a
 * PCI root (PCI0), the ISA bridge at device 7 (SBRG), and under it the
 * VMBus device whose _HID "VMBUS" is what Linux's hv_vmbus
 * (drivers/hv/vmbus_drv.c, vmbus_acpi_device_ids) and FreeBSD's vmbus_res
 * bind to. Its _CRS carries the IRQ Gen1 firmware gives it (5; Linux reads
 * but no longer uses it: VMBus interrupts come on a hypervisor vector), and
 * PCI0's _CRS the MMIO window above RAM where hv_vmbus looks for its
 * "hyperv_mmio" ranges (it walks the ancestors' _CRS). The _HID is 5
 * characters, which the ACPI spec's ID format does not allow and iasl
 * reports as error 6033: the Makefile turns just that one off, because the
 * real firmware uses exactly this string and the guests match on it.
 *
 * \_S5 (soft off) has the PIIX4 sleep type 0 (the PIIX4 datasheet: SLP_TYP
 * 000 = soft off), as QEMU's `pc` machine and Gen1 firmware declare it; the
 * PM1a control block is I/O 0x404 (FADT), emulated by hvhost.
 */
DefinitionBlock ("", "DSDT", 2, "HVHOST", "HVHOSTGN", 0x00000001)
{
    /* Sleep states: S0 (working) and S5 (soft off), as Gen1 supports. */
    Name (\_S0, Package (0x04) { Zero, Zero, Zero, Zero })
    Name (\_S5, Package (0x04) { Zero, Zero, Zero, Zero })

    Scope (\_SB)
    {
        Device (PCI0)
        {
            Name (_HID, EisaId ("PNP0A03"))
            Name (_UID, Zero)
            Name (_CRS, ResourceTemplate ()
            {
                WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
                    0x0000, 0x0000, 0x00FF, 0x0000, 0x0100,,,)
                IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08,)
                WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
                    0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8,,, , TypeStatic, DenseTranslation)
                WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
                    0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300,,, , TypeStatic, DenseTranslation)
                /* Legacy VGA memory. */
                DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite,
                    0x00000000, 0x000A0000, 0x000BFFFF, 0x00000000, 0x00020000,,, , AddressRangeMemory, TypeStatic)
                /* MMIO for VMBus devices (hyperv_mmio), below the IOAPIC. */
                DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
                    0x00000000, 0xF8000000, 0xFEBFFFFF, 0x00000000, 0x06C00000,,, , AddressRangeMemory, TypeStatic)
            })

            /* The PIIX4 function 0: the PCI-to-ISA bridge. */
            Device (SBRG)
            {
                Name (_ADR, 0x00070000)

                Device (VMBS)
                {
                    Name (STA, 0x0F)
                    Name (_DDN, "VMBUS")
                    Name (_HID, "VMBUS")
                    Name (_CID, "VMBus")
                    Name (_UID, Zero)
                    Method (_STA, 0, NotSerialized)
                    {
                        Return (STA)
                    }
                    Name (_CRS, ResourceTemplate ()
                    {
                        IRQ (Edge, ActiveHigh, Exclusive, ) {5}
                    })
                }
            }
        }
    }
}
