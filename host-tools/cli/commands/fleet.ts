import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { registerFleetDashboard } from './fleet-dashboard.js';
import { registerFleetEvents } from './fleet-events.js';
import { registerFleetInventory } from './fleet-inventory.js';
import { registerFleetRollback } from './fleet-rollback.js';
import { registerFleetRollout } from './fleet-rollout.js';
import { registerFleetStatus } from './fleet-status.js';

/**
 * `ota fleet`: the fleet seen through its MQTT broker (docs/fleet.md). Each subcommand registers
 * itself on the group from its own file, so the read side (status, events, inventory, cve) and
 * the write side (rollouts, rollback, ACLs) grow without touching each other.
 *
 * @example
 * // $ ota fleet status --broker mqtt://127.0.0.1:1883 --group canary
 */
export function registerFleet(program: Command, io: CliIo): void {
  const fleet = program.command('fleet').description('see and steer the fleet through its MQTT broker: status, events, inventory, CVE exposure, phased rollouts, rollback');
  registerFleetStatus(fleet, io);
  registerFleetInventory(fleet, io);
  registerFleetEvents(fleet, io);
  registerFleetDashboard(fleet, io);
  registerFleetRollout(fleet, io);
  registerFleetRollback(fleet, io);
}
