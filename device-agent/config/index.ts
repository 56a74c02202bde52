/** The agent's configuration: schema, layered loading and the policy's time window (docs/agent.md, "Configuration"). */
export { loadAgentConfig, configFiles, mergeLayers, completeConfig, type LoadConfigOptions, type LoadedConfig } from './load.js';
export {
  agentConfigSchema,
  agentConfigLayerSchema,
  BUILT_IN_DEFAULTS,
  type AgentConfig,
  type AgentConfigLayer,
  type BootloaderConfig,
  type HealthConfig,
  type PolicyConfig,
  type MaintenanceWindow,
} from './schema.js';
export { deviceIdFromMachineId, readDeviceIdFromMachineId, DEVICE_ID_APP } from './machine-id.js';
export { inMaintenanceWindow } from './window.js';
export { bootloaderBackendFor } from './bootloader.js';
