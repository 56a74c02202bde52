/** The connect-error text moved to common/mqtt/ so the device's session shares it; the host tools keep this path. */
export { connectError, refusedProtocolVersion, type ConnectContext } from '../../common/mqtt/connect-error.js';
