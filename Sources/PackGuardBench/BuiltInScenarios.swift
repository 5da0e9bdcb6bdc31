/// The scenario library, run by `packguard bench` when no scenario file is named. The files in
/// Scenarios/ (also bench/scenarios) are embedded by SwiftPM (`.embedInCode`), so the library works
/// from an installed binary; a new scenario is its file plus one line here, and a test fails when
/// the two disagree.
public enum BuiltInScenarios {
    public static let files: [(name: String, yaml: String)] = [
        ("01-normal-start.yaml", PackageResources._1_normal_start_yaml),
        ("02-bms-not-ready.yaml", PackageResources._2_bms_not_ready_yaml),
        ("03-discharge-enable-dropped.yaml", PackageResources._3_discharge_enable_dropped_yaml),
        ("04-glitch-shorter-than-qualify.yaml", PackageResources._4_glitch_shorter_than_qualify_yaml),
        ("05-charge-enable-chatter.yaml", PackageResources._5_charge_enable_chatter_yaml),
        ("06-balancing-mode.yaml", PackageResources._6_balancing_mode_yaml),
        ("07-shore-charger.yaml", PackageResources._7_shore_charger_yaml),
        ("08-soc-cutoff-hysteresis.yaml", PackageResources._8_soc_cutoff_hysteresis_yaml),
        ("09-adc-failure-ignore.yaml", PackageResources._9_adc_failure_ignore_yaml),
        ("09-adc-failure-openAll.yaml", PackageResources._9_adc_failure_openAll_yaml),
        ("09-adc-failure-openDischarge.yaml", PackageResources._9_adc_failure_openDischarge_yaml),
        ("10-welded-contactor.yaml", PackageResources._0_welded_contactor_yaml),
        ("11-failed-to-close.yaml", PackageResources._1_failed_to_close_yaml),
        ("12-input-read-error.yaml", PackageResources._2_input_read_error_yaml),
        ("13-loop-stall.yaml", PackageResources._3_loop_stall_yaml),
        ("14-force-off.yaml", PackageResources._4_force_off_yaml),
        ("15-sigterm.yaml", PackageResources._5_sigterm_yaml),
        ("16-reload-keeps-closed-relays.yaml", PackageResources._6_reload_keeps_closed_relays_yaml),
        ("17-reload-keeps-force-off.yaml", PackageResources._7_reload_keeps_force_off_yaml),
        ("18-reload-keeps-chatter-latch.yaml", PackageResources._8_reload_keeps_chatter_latch_yaml),
        ("19-reload-keeps-balancing.yaml", PackageResources._9_reload_keeps_balancing_yaml),
        ("20-reload-moves-a-line.yaml", PackageResources._0_reload_moves_a_line_yaml),
        ("21-reload-keeps-welded-and-failed-to-close.yaml", PackageResources._1_reload_keeps_welded_and_failed_to_close_yaml),
        ("22-precharge-sensed.yaml", PackageResources._2_precharge_sensed_yaml),
        ("23-precharge-timer.yaml", PackageResources._3_precharge_timer_yaml),
        ("24-precharge-short.yaml", PackageResources._4_precharge_short_yaml),
        ("25-precharge-release-mid-sequence.yaml", PackageResources._5_precharge_release_mid_sequence_yaml),
        ("26-heartbeat-minimum-rate.yaml", PackageResources._6_heartbeat_minimum_rate_yaml),
        ("27-can-current-while-open.yaml", PackageResources._7_can_current_while_open_yaml),
        ("28-can-bms-disagrees.yaml", PackageResources._8_can_bms_disagrees_yaml),
        ("29-can-stale-open-all.yaml", PackageResources._9_can_stale_open_all_yaml),
    ].map { (name: $0.0, yaml: String(decoding: $0.1, as: UTF8.self).trimmingSuffixNewlines()) }
}

private extension String {
    /// The file's text without its final newlines, as scenario sources are compared.
    func trimmingSuffixNewlines() -> String {
        var text = Substring(self)
        while text.last == "\n" { text = text.dropLast() }
        return String(text)
    }
}
