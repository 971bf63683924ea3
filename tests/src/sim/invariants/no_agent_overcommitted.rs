//! No agent holds more than its capacity (requests plus executor overhead), and no port is
//! handed out twice on one agent.

use std::collections::BTreeSet;

use super::Observed;

pub fn check(observed: &Observed<'_>) -> Result<(), String> {
    let state = observed.state;
    let overhead = state.settings().executor_overhead;
    for (id, agent) in state.agents() {
        let (mut cpus, mut ram, mut disk) = (0.0, 0u64, 0u64);
        let mut ports = BTreeSet::new();
        for task in state.tasks_on_agent(id) {
            let config = state
                .config(&task.config)
                .ok_or_else(|| format!("task {} has no config", task.id))?;
            cpus += config.resources.cpus + overhead.cpus;
            ram += config.resources.ram_mb + overhead.ram_mb;
            disk += config.resources.disk_mb + overhead.disk_mb;
            for port in task.assignment.iter().flat_map(|a| a.port_numbers()) {
                if !ports.insert(port) {
                    return Err(format!("port {port} assigned twice on {id}"));
                }
            }
        }
        let cap = &agent.capacity;
        if cpus > cap.cpus + 1e-9 || ram > cap.ram_mb || disk > cap.disk_mb {
            return Err(format!(
                "{id} holds cpus {cpus}/{}, ram {ram}/{}, disk {disk}/{}",
                cap.cpus, cap.ram_mb, cap.disk_mb
            ));
        }
    }
    Ok(())
}
