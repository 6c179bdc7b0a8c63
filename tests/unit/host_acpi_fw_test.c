/* tests/unit/host_acpi_fw_test.c: hvhost's PIIX4-style PM ports
 * (host/acpi_fw.c): what a guest's writes to PM1a_CNT, 0xCF9 and the
 * keyboard controller do, the registers' read-back, and the PM timer's
 * rate. The tables themselves are tested with the parser (arch_acpi_test). */
#include <string.h>

#include "arch/x86_64/acpi_reg.h"
#include "host/acpi_fw.h"
#include "tests/unit/unit.h"

static uint32_t rd(struct acpifw_pm *pm, uint16_t port, unsigned size, uint64_t now) {
  uint32_t v = 0xdeadbeef;
  assert_true(acpifw_pm_io(pm, port, false, size, &v, now));
  return v;
}
static void wr(struct acpifw_pm *pm, uint16_t port, unsigned size, uint32_t v) {
  assert_true(acpifw_pm_io(pm, port, true, size, &v, 0));
}

static void test_s5_write_powers_off(void **state) {
  (void)state;
  struct acpifw_pm pm;
  acpifw_pm_init(&pm, 0);
  assert_int_equal(rd(&pm, 0x404, 2, 0) & ACPI_PM1_SCI_EN, ACPI_PM1_SCI_EN); /* ACPI mode */
  /* The type first (no SLP_EN): nothing happens. */
  wr(&pm, 0x404, 2, ACPIFW_S5_TYPE << 10 | ACPI_PM1_SCI_EN);
  assert_int_equal(pm.pm_power, ACPIFW_POWER_NONE);
  /* Another sleep type with SLP_EN: not S5, nothing (only S0/S5 here). */
  wr(&pm, 0x404, 2, 1u << 10 | ACPI_PM1_SLP_EN);
  assert_int_equal(pm.pm_power, ACPIFW_POWER_NONE);
  /* SLP_EN reads back as 0 (write-only). */
  assert_int_equal(rd(&pm, 0x404, 2, 0) & ACPI_PM1_SLP_EN, 0);
  wr(&pm, 0x404, 2, ACPIFW_S5_TYPE << 10 | ACPI_PM1_SLP_EN);
  assert_int_equal(pm.pm_power, ACPIFW_POWER_OFF);
  assert_string_equal(acpifw_power_name(pm.pm_power), "off");

  /* Byte writes: the high byte carries SLP_EN and SLP_TYP. */
  acpifw_pm_init(&pm, 0);
  wr(&pm, 0x404, 1, 0x01);
  assert_int_equal(pm.pm_power, ACPIFW_POWER_NONE);
  wr(&pm, 0x405, 1, (ACPI_PM1_SLP_EN | ACPIFW_S5_TYPE << 10) >> 8);
  assert_int_equal(pm.pm_power, ACPIFW_POWER_OFF);
  /* A 32-bit write at 0x404 covers PM1_CNT too. */
  acpifw_pm_init(&pm, 0);
  wr(&pm, 0x404, 4, ACPI_PM1_SLP_EN);
  assert_int_equal(pm.pm_power, ACPIFW_POWER_OFF);
}

static void test_reset_ports(void **state) {
  (void)state;
  struct acpifw_pm pm;
  acpifw_pm_init(&pm, 0);
  wr(&pm, ACPI_PORT_CF9, 1, 0x02); /* SYS_RST alone: armed, no reset yet */
  assert_int_equal(pm.pm_power, ACPIFW_POWER_NONE);
  wr(&pm, ACPI_PORT_CF9, 1, ACPI_CF9_RESET_VALUE);
  assert_int_equal(pm.pm_power, ACPIFW_POWER_RESET);
  assert_string_equal(acpifw_power_name(pm.pm_power), "reset");
  acpifw_pm_init(&pm, 0);
  assert_int_equal(rd(&pm, ACPI_PORT_KBC_CMD, 1, 0), 0); /* buffers empty */
  wr(&pm, ACPI_PORT_KBC_CMD, 1, 0xAD);                   /* another command */
  assert_int_equal(pm.pm_power, ACPIFW_POWER_NONE);
  wr(&pm, ACPI_PORT_KBC_CMD, 1, ACPI_KBC_CMD_RESET);
  assert_int_equal(pm.pm_power, ACPIFW_POWER_RESET);
  /* Not ours: left to the caller. */
  uint32_t v = 0;
  assert_false(acpifw_pm_io(&pm, 0x3f8, false, 1, &v, 0));
  assert_false(acpifw_pm_io(&pm, 0x440, true, 1, &v, 0));
  assert_false(acpifw_pm_io(&pm, 0x3ff, true, 4, &v, 0));
  assert_string_equal(acpifw_power_name(ACPIFW_POWER_NONE), "none");
}

static void test_status_enable_gpe_timer(void **state) {
  (void)state;
  struct acpifw_pm pm;
  acpifw_pm_init(&pm, 1000);
  pm.pm_sts = 0x8101; /* WAK_STS, PWRBTN_STS, TMR_STS */
  wr(&pm, 0x400, 2, 0x0001);
  assert_int_equal(rd(&pm, 0x400, 2, 0), 0x8100); /* write 1 to clear */
  wr(&pm, 0x402, 2, 0x0120);                      /* PM1_EN */
  assert_int_equal(rd(&pm, 0x400, 4, 0), 0x01208100u);
  wr(&pm, 0x40E, 2, 0x00ff); /* GPE0_EN */
  assert_int_equal(rd(&pm, 0x40C, 4, 0), 0x00ff0000u);
  /* The PM timer: 3,579,545 ticks per second, 32 bits (TMR_VAL_EXT). */
  assert_int_equal(rd(&pm, 0x408, 4, 1000), 0);
  assert_int_equal(rd(&pm, 0x408, 4, 1000 + 1000000000ull), ACPI_PM_TIMER_HZ);
  uint32_t a = rd(&pm, 0x408, 4, 1000 + 2000000000ull);
  assert_int_equal(a, 2 * ACPI_PM_TIMER_HZ);
  assert_int_equal(rd(&pm, 0x409, 1, 1000 + 2000000000ull), (a >> 8) & 0xff);
  /* Unused registers of the block read 0. */
  assert_int_equal(rd(&pm, 0x420, 4, 0), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_s5_write_powers_off),
    cmocka_unit_test(test_reset_ports),
    cmocka_unit_test(test_status_enable_gpe_timer),
};

UNIT_MAIN("host_acpi_fw", tests)
