// Debian version rules live in common/ since releases compare versions too (docs/contract.md,
// "Versions"); apt code keeps importing them from here.
export { compareVersions, normalizeRelation, parseVersion, satisfiesRelation, versionProblem } from '../../common/dpkg-version.js';
export type { DebVersion, Relation } from '../../common/dpkg-version.js';
